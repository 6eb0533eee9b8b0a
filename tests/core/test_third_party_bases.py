"""A third-party vision encoder reuses the core's base class (harness.kinds.hf_vision), not the built-in
plugin package: installed as a distribution, it lists, resolves and finds the organism's weights."""
import json

from clirunner import run_cli
from distfactory import make_dist

VISION = '''
from harness import hookimpl
from harness.kinds.hf_vision import HFVisionEncoder
from harness.specs import VisionSpec


class MyClip(HFVisionEncoder):
    card_name = "clip"
    model_types = ("clip", "clip_vision_model")
    config_class = "CLIPVisionConfig"
    model_class = "CLIPVisionModel"


@hookimpl
def register_vision_encoders(register):
    register(VisionSpec(name="myclip", model_card="clip", implementation="my_vision:MyClip"))
'''

PROBE = ("import json\nfrom harness.plugin_manager import get_plugins\nfrom harness.lazy import load_ref\n"
         "spec = get_plugins().registry('vision').get('myclip')\nencoder = load_ref(spec.implementation)(spec.model_card)\n"
         "info = encoder.info('tiny')\nprint(json.dumps({'dim': info.feature_dim, 'strategy': info.select_strategy,"
         " 'mro': [c.__module__ for c in type(encoder).__mro__]}))")


def test_a_third_party_vision_encoder_subclasses_the_core_base_class(tmp_path, home):
    import subprocess
    import sys

    site = make_dist(tmp_path / "site", "my-vision", "my_vision", VISION)
    env = {"PYTHONPATH": str(site)}
    listed = run_cli(["list", "vision", "--json"], home=home, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "myclip" in {row["name"] for row in json.loads(listed.stdout)}
    resolved = run_cli(["config", "vision=myclip", "--json"], home=home, env=env)
    assert resolved.returncode == 0 and json.loads(resolved.stdout)["config"]["vision"]["variant"] == "tiny"
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=tmp_path,
                           env={"PYTHONPATH": str(site), "HARNESS_HOME": str(home), "PATH": "/usr/bin:/bin",
                                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert probe.returncode == 0, probe.stderr
    out = json.loads(probe.stdout.strip().splitlines()[-1])
    assert out["dim"] > 0 and out["strategy"] == "default"
    assert "harness.kinds.hf_vision" in out["mro"] and not any(m.startswith("harness_plugins") for m in out["mro"])
