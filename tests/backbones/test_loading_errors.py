"""Bad input while finding and loading backbone weights: one-line errors naming the file and the fix."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.errors import HarnessError


def one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_unknown_variant_lists_the_known_ones(backbones):
    with pytest.raises(HarnessError, match=r"llama2 has no variant '7B-chat'.*did you mean '7b-chat'") as err:
        backbones["llama2"].weights_dir("7B-chat")
    assert "70b-chat" in one_line(err)


def test_path_that_does_not_exist_or_is_a_file(backbones, tmp_path):
    with pytest.raises(HarnessError, match="nope does not exist") as err:
        backbones["llama1"].load_tokenizer(path=tmp_path / "nope")
    assert "backbone.path" in one_line(err)
    (tmp_path / "afile").write_text("")
    with pytest.raises(HarnessError, match="afile is not a directory"):
        backbones["llama1"].load_tokenizer(path=tmp_path / "afile")


def test_path_without_config_json_is_not_a_model_directory(backbones, tmp_path):
    with pytest.raises(HarnessError, match=r"not a model directory \(no config.json\)"):
        backbones["llama1"].load_model(path=tmp_path)


def test_model_directory_without_weights(backbones, tmp_path):
    shutil.copy(backbones["llama3"].weights_dir() / "config.json", tmp_path / "config.json")
    with pytest.raises(HarnessError, match=r"no weights \(\*.safetensors"):
        backbones["llama3"].load_model(path=tmp_path)


def test_llama2_weights_under_llama3_are_refused_naming_config_json(backbones):
    llama2_dir = backbones["llama2"].weights_dir()
    with pytest.raises(HarnessError) as err:
        backbones["llama3"].load_model(path=llama2_dir)
    text = one_line(err)
    assert str(llama2_dir / "config.json") in text
    assert "rope_theta" in text and "look like llama2 weights" in text and "backbone=llama2" in text


def test_llama1_weights_under_llama2_are_refused_by_norm_eps(backbones):
    with pytest.raises(HarnessError, match=r"rms_norm_eps is 1e-06.*look like llama1 weights"):
        backbones["llama2"].load_tokenizer(path=backbones["llama1"].weights_dir())


def test_real_scale_vocabulary_is_checked(backbones, tmp_path):
    """A LLaMA-2-sized vocabulary with LLaMA-3's other facts is still not LLaMA-3 (vocab 32000 + MHA)."""
    folder = backbones["llama3"].weights_dir()
    config = json.loads((folder / "config.json").read_text())
    config.update(vocab_size=32000, max_position_embeddings=8192, num_key_value_heads=config["num_attention_heads"])
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(folder / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(HarnessError, match=r"vocab_size is 32000, llama3 has 128256"):
        backbones["llama3"].weights_dir(path=tmp_path)


def test_tokenizer_without_the_formats_special_tokens(backbones, tmp_path):
    """LLaMA-3 architecture facts but a LLaMA-1 tokenizer: the llama3 format's header tokens are missing."""
    shutil.copytree(backbones["llama3"].weights_dir(), tmp_path / "m")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(backbones["llama1"].weights_dir() / name, tmp_path / "m" / name)
    with pytest.raises(HarnessError, match=r"tokenizer_config.json lacks the special token\(s\) <\|start_header_id\|>"):
        backbones["llama3"].load_tokenizer(path=tmp_path / "m")


def test_real_variant_missing_from_the_hf_cache_says_where_and_how(backbones, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(HarnessError) as err:
        backbones["llama3"].load_model(variant="8b-instruct")
    text = one_line(err)
    assert "llama3 variant '8b-instruct'" in text and str(tmp_path / "hub") in text
    assert "huggingface-cli download meta-llama/Meta-Llama-3-8B-Instruct" in text and "backbone.path=" in text


def cached_snapshot(monkeypatch, hub, repo: str, source) -> Path:
    """``source`` laid out as huggingface_hub stores a snapshot of ``repo``, with HF_HUB_CACHE at ``hub``."""
    import huggingface_hub.constants

    folder = hub / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / ("a" * 40)
    shutil.copytree(source, snapshot)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    return snapshot


def test_real_variant_found_in_the_hf_cache_loads_from_there(backbones, tmp_path, monkeypatch):
    """The cache lookup is real: a snapshot laid out as huggingface_hub stores it is found offline."""
    snapshot = cached_snapshot(monkeypatch, tmp_path / "hub", "huggyllama/llama-7b", backbones["llama1"].weights_dir())
    assert backbones["llama1"].weights_dir("7b") == snapshot


def test_a_repository_id_as_backbone_path_is_looked_up_in_the_hf_cache(backbones, tmp_path, monkeypatch):
    snapshot = cached_snapshot(monkeypatch, tmp_path / "hub", "me/my-llama", backbones["llama3"].weights_dir())
    assert backbones["llama3"].weights_dir(path="me/my-llama") == snapshot
    with pytest.raises(HarnessError, match=r"backbone.path=me/absent needs the weights of me/absent.*huggingface-cli download"):
        backbones["llama3"].weights_dir(path="me/absent")


def test_truncated_weights_name_the_folder(backbones, tmp_path):
    shutil.copytree(backbones["llama1"].weights_dir(), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(HarnessError) as err:
        backbones["llama1"].load_model(path=tmp_path / "m")
    text = one_line(err)
    assert f"cannot load the weights in {tmp_path / 'm'}" in text and "truncated or corrupt" in text


def test_a_tokenizer_of_another_checkpoint_is_refused(backbones, tmp_path):
    """LLaMA-1 weights with LLaMA-3's (4x larger) tokenizer: most ids would get untrained embeddings."""
    shutil.copytree(backbones["llama1"].weights_dir(), tmp_path / "m")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(backbones["llama3"].weights_dir() / name, tmp_path / "m" / name)
    (tmp_path / "m" / "special_tokens_map.json").unlink(missing_ok=True)
    with pytest.raises(HarnessError) as err:
        backbones["llama1"].load_model(path=tmp_path / "m")
    text = one_line(err)
    assert "tokenizer and weights come from different checkpoints" in text and str(tmp_path / "m") in text


def test_unknown_dtype(backbones):
    with pytest.raises(HarnessError, match="unknown dtype 'fp8'"):
        backbones["llama1"].load_model(dtype="fp8")
