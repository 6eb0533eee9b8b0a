"""The compute record stored with every run: it names the kernel set torch actually dispatches to."""
from __future__ import annotations

import os
import subprocess
import sys

from harness.compute import compute_provenance, cpu_name


def test_the_record_names_the_cpu_and_the_kernel_set_torch_reports():
    import torch

    line = compute_provenance("cpu")
    assert line == f"{cpu_name()}, {torch.backends.cpu.get_cpu_capability()} kernels"
    assert cpu_name().strip()


def test_the_record_follows_the_kernels_in_use_not_the_cpus_best():
    # ATEN_CPU_CAPABILITY=default makes torch dispatch to its portable kernels on any CPU: the record must say so,
    # since those kernels give other floats than the vectorised ones and so another trained model
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    done = subprocess.run([sys.executable, "-c", "from harness.compute import compute_provenance as c; print(c())"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(", DEFAULT kernels")


def test_a_run_names_what_trained_its_checkpoint_as_well_as_what_evaluated_it(tmp_path):
    import json

    from harness.pipeline import training_compute, training_stages

    checkpoint = tmp_path / "checkpoint"
    assert training_compute(training_stages(checkpoint)) == {}  # trained elsewhere (no summary): nothing claimed
    summary = tmp_path / "training_summary.json"
    summary.write_text(json.dumps({"stages": {"align": {"compute": "AMD EPYC, AVX2 kernels", "tokens_per_s": 9.0},
                                              "finetune": {"compute": "AMD EPYC, AVX2 kernels"}}}))
    assert training_compute(training_stages(checkpoint)) == {"train_compute": "AMD EPYC, AVX2 kernels"}
    # a training resumed on another machine: both, each once, in stage order
    summary.write_text(json.dumps({"stages": {"align": {"compute": "Intel Xeon, AVX512 kernels"},
                                              "perceive": {"compute": "AMD EPYC, AVX2 kernels"},
                                              "finetune": {"compute": "AMD EPYC, AVX2 kernels"}}}))
    assert training_compute(training_stages(checkpoint)) == {"train_compute": "Intel Xeon, AVX512 kernels; AMD EPYC, AVX2 kernels"}
    summary.write_text("{not json")
    assert training_compute(training_stages(checkpoint)) == {}
