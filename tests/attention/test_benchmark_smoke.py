"""benchmarks/attention_gpu.py runs cleanly on the CPU with tiny shapes (its GPU numbers come from a GPU)."""
import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "attention_gpu.py"


def load_script():
    spec = importlib.util.spec_from_file_location("attention_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    spec.loader.exec_module(module)
    return module


def test_cpu_smoke_measures_or_explains_every_method_on_every_shape():
    bench = load_script()
    rows = bench.run(bench.parse(["--cpu-smoke"]))
    assert {r.shape for r in rows} == {"llama1-tiny", "llama2-tiny", "llama3-tiny"}
    assert {r.method for r in rows} >= {"eager", "sdpa (auto)", "sdpa math", "sdpa flash", "sdpa efficient",
                                        "sdpa cudnn", "xformers"}
    for row in rows:
        assert (row.ms is not None) != row.note.startswith("skipped:")
    eager = [r for r in rows if r.method == "eager"]
    assert all(r.max_err is not None and r.max_err < 1e-5 for r in eager)


def test_causal_flops_match_the_reference_h100_measurement():
    # REFERENCE.md section 6: eager, 50.8 ms for B=4, 32 heads, S=4096, d=128 -> 38 TFLOP/s
    bench = load_script()
    assert round(bench.causal_flops(4, 32, 4096, 128) / 0.0508 / 1e12) == 38
