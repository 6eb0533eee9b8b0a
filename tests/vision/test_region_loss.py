"""The region-phrase loss of the CLIP organism: pooled over an object's patches, or per patch (each patch
under an object matched to its object's phrase on its own: the mean of the pooled loss of each patch)."""
import torch
from transformers import CLIPModel

from harness_plugins.scene.world import Scene, SceneObject
from harness_plugins.vision.organism import QUICK, WordVocab, clip_config
from harness_plugins.vision.probe import _object_patches
from harness_plugins.vision.region_loss import object_phrases, region_loss, region_targets


def test_the_per_patch_loss_is_the_mean_of_each_patchs_own_loss_and_differs_from_the_pooled_one():
    _, phrases = object_phrases()
    vocab = WordVocab(list(phrases))
    ids, mask = vocab.encode(list(phrases), 32)
    torch.manual_seed(0)
    model = CLIPModel(clip_config(QUICK, len(vocab))).eval()
    scenes = [Scene(objects=(SceneObject("triangle", "red", "large", 0.5, 0.5),))]
    targets = region_targets(scenes)
    grid = 8
    patches = _object_patches(scenes[0].objects[0], grid)
    assert len(patches) > 1
    hidden = torch.randn(1, 1 + grid * grid, QUICK.hidden_size)
    with torch.no_grad():
        per_patch = region_loss(model, hidden, scenes, targets, ids, mask, grid, per_patch=True)
        pooled = region_loss(model, hidden, scenes, targets, ids, mask, grid)
        each = []
        for p in patches:  # an object all of whose patches are patch p pools to patch p's own token
            alone = hidden.clone()
            alone[0, 1 + torch.tensor(patches)] = hidden[0, 1 + p]
            each.append(region_loss(model, alone, scenes, targets, ids, mask, grid))
    assert torch.allclose(per_patch, torch.stack(each).mean(), atol=1e-5)
    assert not torch.allclose(per_patch, pooled, atol=1e-3)
