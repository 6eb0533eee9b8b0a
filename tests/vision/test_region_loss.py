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


def test_a_factor_term_is_the_cross_entropy_of_the_phrase_softmax_summed_over_the_factors_values():
    from harness_plugins.vision.region_loss import FACTORS, factor_loss

    keys, _ = object_phrases()
    torch.manual_seed(0)
    logits, labels = torch.randn(6, len(keys)), torch.tensor([0, 7, 100, 215, 300, 431])
    probs = logits.softmax(dim=1)
    for f, name in enumerate(FACTORS):
        weights = tuple(2.0 if i == f else 0.0 for i in range(len(FACTORS)))
        by_hand = torch.stack([-torch.log(sum(probs[row, j] for j, k in enumerate(keys) if k[f] == keys[label][f]))
                               for row, label in enumerate(labels.tolist())]).mean()
        assert torch.allclose(factor_loss(logits, labels, weights), 2.0 * by_hand, atol=1e-5), name
    # a logit moved between two phrases of the same shape leaves the shape term where it was
    shape = FACTORS.index("shape")
    same = [j for j, k in enumerate(keys) if k[shape] == keys[0][shape]][:2]
    moved = logits.clone()
    moved[:, same[0]], moved[:, same[1]] = logits[:, same[1]], logits[:, same[0]]
    only_shape = tuple(1.0 if i == shape else 0.0 for i in range(len(FACTORS)))
    assert torch.allclose(factor_loss(moved, labels, only_shape), factor_loss(logits, labels, only_shape), atol=1e-6)
    assert not torch.allclose(torch.nn.functional.cross_entropy(moved, labels),
                              torch.nn.functional.cross_entropy(logits, labels))
