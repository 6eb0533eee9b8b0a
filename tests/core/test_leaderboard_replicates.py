"""The leaderboard over seed replicates (mean, spread, n) and with the competence gate's marks."""
from harness.leaderboard import build_leaderboard, render
from harness.store import MetricRow, RunRecord, SampleRow, open_store

ANSWERS = ("red", "green", "blue", "yellow")


def add(store, run_id, backbone, seed, value, predictions=None, config=None):
    n = 40
    targets = [ANSWERS[i % 4] for i in range(n)]
    answers = predictions or [t if i < value * n else ANSWERS[(i + 1) % 4] for i, t in enumerate(targets)]
    samples = [SampleRow("vqa_scene", i, a, t, float(a == t), None, {"doc": {"qtype": "color"}})
               for i, (a, t) in enumerate(zip(answers, targets))]
    score = sum(s.score for s in samples) / n
    cfg = {"seed": seed, "recipe": {"lr": 1e-3}, **(config or {})}
    store.add_run(RunRecord(run_id, "vqa_scene", backbone, "tiny", "clip", "llava15", cfg, f"r{run_id}", f"t{run_id}",
                            f"c{seed}"),
                  [MetricRow("vqa_scene", "exact_match", score, 0.05, True, True)], samples)


def test_seed_replicates_of_a_cell_show_their_mean_spread_and_number(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        for seed, value in enumerate((0.5, 0.6, 0.7)):
            add(store, f"l3s{seed}", "llama3", seed, value)
        add(store, "l1", "llama1", 0, 0.5)
        add(store, "other-lr", "llama3", 5, 0.9, config={"recipe": {"lr": 1e-4}})  # another cell, not a replicate
        add(store, "l3s1-again", "llama3", 1, 0.6)  # a newer run of seed 1 replaces the older one
        board = build_leaderboard(store)
    cell = board.cells[("llama3 (tiny)", "vqa_scene")]
    assert (cell.run_id, cell.replicates) == ("l3s1-again", 3) and abs(cell.value - 0.6) < 1e-9 and abs(cell.spread - 0.1) < 1e-9
    assert not cell.uncontrolled and not board.cells[("llama1 (tiny)", "vqa_scene")].uncontrolled
    text = render(board, "markdown")
    assert "0.6000 ± 0.1000 sd (n=3)" in text and "n: seed replicates" in text


def test_a_constant_predictor_is_marked_not_interpretable_and_never_best(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        add(store, "a", "llama1", 0, 0.25, predictions=["red"] * 40)
        add(store, "b", "llama3", 0, 0.2)
        board = build_leaderboard(store)
    constant = board.cells[("llama1 (tiny)", "vqa_scene")]
    assert "llama1 answers 'red' to 40 of 40 vqa_scene items" in constant.not_interpretable
    assert not constant.best and constant.text().endswith("‡")
    assert "‡ llama1 (tiny) on vqa_scene is not interpretable: llama1 answers 'red'" in render(board, "markdown")
