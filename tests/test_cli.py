import json
import re
import subprocess
import sys

import pytest

from mlxvspt import cli
from mlxvspt.publish import results
from mlxvspt.measure import devices, settings


def no_gpu_anywhere():
    return all(devices.framework_module(f).gpu_backend() is None for f in devices.FRAMEWORKS)


BAD = [
    ["run", "--framework", "jax"],
    ["run", "--framework", "mlx", "--framework", "jax"],
    ["run", "--device", "tpu"],
    ["run", "--preset", "huge"],
    ["run", "--workload", "nope"],
    ["run", "--unknown-flag"],
    ["run", "--ptb", "/nonexistent/ptb"],
    ["run", "--llm-checkpoint", "/nonexistent/llama"],
    ["run", "--audio", "/etc/hostname"],
    ["run", "--preset"],
    ["run", "--bench", "Bert(Train"],
    ["check", "--framework", "jax"],
    ["check", "--preset", "huge"],
    ["check", "--precision", "fp8"],
    ["run", "--precision", "bf17"],
    ["check", "--workload", "switch", "--workload", "bogus"],
    ["history", "no-such-release"],
    ["compare", "mlx-0.26.5", "no-such-release"],
    ["compare", "mlx-0.26.5", "mlx-0.32.4", "--factor", "-1"],
    ["compare", "mlx-0.26.5", "mlx-0.32.4", "--factor", "fast"],
    ["compare", "mlx-0.26.5"],
    ["compare", "mlx-0.32.4", "mlx-0.32.4", "--machine", "linux-2core-history"],  # a point with itself
    ["report", "--results-dir", "/nonexistent/results"],
    ["report", "--machine", "no-such-machine"],
    ["publish", "--results-dir", "/nonexistent/results"],
    ["info", "extra"],
    ["fetch", "imagenet"],
    ["profile", "NoSuchBenchmark"],
    ["profile", "Matmul", "precision=fp32", "n=64"],
    ["profile", "Matmul.time_matmul", "precision=fp32", "n=63"],
    ["profile", "Matmul.time_matmul", "precision=fp32", "n=64", "device=cpu"],
    ["profile", "Matmul.time_matmul", "--steps", "0"],
    ["profile", "Matmul.time_matmul", "--framework", "jax"],
    ["bisect", "mlx-0.31.2", "mlx-0.32.4", "("],  # the row is checked before anything is measured
    ["bisect", "mlx-0.31.2", "mlx-0.32.4", "time_"],
    ["confirm", "mlx-0.31.2", "mlx-0.32.4", "no.such.row"],
    ["frobnicate"],
]


@pytest.mark.parametrize("argv", BAD, ids=lambda a: " ".join(a) or "<none>")
def test_bad_input_one_line_exit_2_nothing_written(argv, tmp_path, capsys):
    results, html = tmp_path / "results", tmp_path / "html"
    extra = ["--results-dir", str(results), "--html-dir", str(html)] if argv[:1] in (["run"], ["history"]) else []
    code = cli.main(argv + extra)
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("mlxvspt: error:"), err
    assert not captured.out
    assert not results.exists() and not html.exists()


OUTPUTS = {  # where a command would write, each refused before it runs (publishing replaces --html-dir whole)
    "site over the results": (["publish", "--results-dir", "{t}/site/results", "--html-dir", "{t}/site"],
                              "would go with it"),
    "site inside the results": (["publish", "--results-dir", "{t}/site", "--html-dir", "{t}/site/html"],
                                "would go with it"),
    "a folder that is no site": (["publish", "--html-dir", "{t}/notes"], "not a published site"),
    "under a file": (["run", "--results-dir", "{t}/notes/a.txt/results"], "is a file"),
    "json into a folder": (["check", "--workload", "switch", "--json", "{t}/notes"], "expected a file"),
    "readme without markers": (["report", "--readme", "{t}/notes/a.txt"], "report markers"),
    "charts over a file": (["report", "--charts", "{t}/notes/a.txt"], "expected a folder"),
    "factor nan": (["compare", "mlx-0.26.5", "mlx-0.32.4", "--factor", "nan"], "greater than 1"),
    "port out of range": (["serve", "--port", "70000"], "1-65535"),
}


@pytest.mark.parametrize("case", OUTPUTS)
def test_an_output_that_cannot_be_written_or_would_replace_data_is_refused_first(case, tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    (tmp_path / "site" / "results").mkdir(parents=True)
    argv, words = OUTPUTS[case]
    argv = [a.format(t=tmp_path) for a in argv]
    if argv[0] == "run":
        argv += ["--html-dir", str(tmp_path / "html")]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "notes" / "a.txt").read_text() == "mine"


@pytest.mark.skipif(not no_gpu_anywhere(), reason="this machine has a GPU backend")
def test_gpu_request_without_backend_names_valid_devices(capsys):
    assert cli.main(["run", "--device", "gpu"]) == 2
    assert "valid devices: cpu" in capsys.readouterr().err


def test_unknown_ledger_point_lists_the_known_ones(capsys):
    assert cli.main(["compare", "mlx-0.26.5", "mlx-9.9"]) == 2
    assert "known points: mlx-0.26.5, mlx-0.27.1" in capsys.readouterr().err


def test_check_cli_switch_and_matmul():
    out = subprocess.run([sys.executable, "-m", "mlxvspt", "check", "--workload", "switch",
                          "--workload", "matmul"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all checks agree" in out.stdout


def test_precision_selects_the_check_lines_and_rows_of_that_precision(monkeypatch):
    """`--precision bf16`: the check compares only bf16 combinations (every path x compile of them); a run's
    rows at other precisions are n/a with the reason."""
    out = subprocess.run([sys.executable, "-m", "mlxvspt", "check", "--workload", "lm_train", "--precision", "bf16"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    labels = {line.split("[cpu ", 1)[1].split("]")[0] for line in out.stdout.splitlines() if "lm_train [cpu " in line}
    assert labels == {"seed bf16", "seed+compiled bf16", "best bf16", "best+compiled bf16"}, labels
    from benchmarks.bench_lm_train import LMTrain
    from mlxvspt.measure import settings

    monkeypatch.setenv(settings.PRECISIONS, "bf16")
    with pytest.raises(NotImplementedError, match="fp32 not selected"):
        LMTrain().refuse("mlx", "cpu", "seed", False, "fp32")


def test_a_run_into_a_machine_measured_on_another_kind_of_host_is_refused_first(tmp_path, monkeypatch, capsys):
    """One machine name over two kinds of host would chart the host as a release's move (two 2-core hosts named
    "Intel(R) Xeon(R) Processor" ran PyTorch's fp16 512^3 matmul in 131 ms and about 1 ms, one with AVX-512 FP16):
    `run`, `update`, `confirm` and `bisect` name both hosts and how to name this one, exit 2, nothing written.
    The same host's record lets a run by, and so do one from before the CPU's features were recorded, one that
    names no host and one that cannot be read."""
    monkeypatch.setenv(settings.MACHINE, "box")
    here = devices.host_kind()
    folder = tmp_path / "results" / "box-tiny"
    folder.mkdir(parents=True)
    others = {"another CPU": {**here, "cpu": f"not {here['cpu']}"}, "more cores": {**here, "cpu_count": 999},
              "other extensions": {**here, "cpu_features": "avx avx2 amx_tile"}}
    runs = {"run": ["run", "--preset", "tiny", "--workload", "switch", "--html-dir", str(tmp_path / "html")],
            "confirm": ["confirm", "mlx-0.31.2", "mlx-0.32.4", "bench_matmul.Matmul.time_matmul('mlx', 'cpu', "
                        "'fp32', 512)", "--preset", "tiny"]}
    for words, other in others.items():
        (folder / "environment.txt").write_text(json.dumps(other))
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        for argv in runs.values():
            assert cli.main(argv + ["--results-dir", str(tmp_path / "results")]) == 2, (words, argv)
            err = capsys.readouterr().err.strip().splitlines()
            assert err == [f"mlxvspt: error: box-tiny: its results were measured on {results.host_words(other)} and "
                           f"this host is {results.host_words(here)}; name this host's machine otherwise "
                           "(MLXVSPT_MACHINE=...)"], (words, err)
            assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    for record in ({**here}, {**here, "cpu_features": None}, {"mlx": "0.32.4"}, "[1, 2", "[1, 2]"):
        (folder / "environment.txt").write_text(record if isinstance(record, str) else json.dumps(record))
        assert cli.asvrun.same_host(tmp_path / "results", "box-tiny") is None, record


def test_a_bench_pattern_matching_no_benchmark_of_the_suite_is_refused_first(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "benchmarks.json").write_text((cli.asvrun.ROOT / "results" / "benchmarks.json").read_text())
    argv = ["run", "--preset", "tiny", "--workload", "switch", "--bench", "BertTrainStep", "--results-dir",
            str(results), "--html-dir", str(tmp_path / "html")]  # BertTrainStep exists, not in switch
    assert cli.main(argv) == 2
    assert "matches none of the selected benchmarks" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["benchmarks.json", "results"]


def test_a_bare_mlxvspt_prints_where_to_start(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: mlxvspt") and "run" in out and "report" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("mlxvspt 0.")


def test_pytorch_is_read_as_torch():
    assert cli.parser().parse_args(["run", "--framework", "PyTorch", "--framework", "mlx"]).framework == ["torch", "mlx"]


def subcommands():
    """{name: parser} of every `mlxvspt` subcommand."""
    return next(a for a in cli.parser()._actions if a.dest == "command").choices


def test_the_top_level_help_groups_every_command_once_and_says_where_to_start(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "start with `mlxvspt run`" in out.lower()
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and not line.startswith("   ")
              and not line.lstrip().startswith("-")]
    assert sorted(listed) == sorted(subcommands()), listed  # each command once
    headings = [line for line in out.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert [h.rstrip(":") for h in headings[:4]] == list(cli.GROUPS), headings


def test_every_subcommand_help_says_in_one_line_what_it_is_for(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping: each option's help on one line
    for name, sub in subcommands().items():
        what = sub.description
        assert what and "\n" not in what and len(what) <= 100, (name, what)
        help_text = sub.format_help()
        assert help_text.startswith(f"usage: mlxvspt {name} ") and what in help_text, name
        entries = [" ".join(e.split()) for e in re.split(r"\n  (?=-)", help_text)]  # one per option
        for action in sub._actions:
            if {"--results-dir", "--html-dir", "--port"} & set(action.option_strings):
                entry = next(e for e in entries if e.startswith(action.option_strings[0]))
                assert f"(default: {action.default})" in entry, (name, entry)


def test_serve_before_any_run_names_the_projects_published_site(tmp_path, capsys):
    assert cli.main(["serve", "--html-dir", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "publish the site first" in err[0] and "--html-dir html" in err[0], err


def test_ctrl_c_is_one_line_naming_resume_and_exit_130(monkeypatch, tmp_path, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_run", interrupted)
    assert cli.main(["run", "--results-dir", str(tmp_path / "r"), "--html-dir", str(tmp_path / "h")]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0] and "Traceback" not in err[0]


def test_a_budget_with_resume_is_judged_by_the_run_on_the_rows_still_missing(monkeypatch, tmp_path):
    """The CLI's own budget check plans every row; with --resume only the run knows which rows the results
    hold, so the budget goes to it (asvrun.run refuses there, before measuring)."""
    from mlxvspt.track import asvrun, plan

    asked = []
    monkeypatch.setattr(plan, "within", lambda budget, estimates: asked.append("cli"))
    monkeypatch.setattr(asvrun, "run", lambda *args, budget=None, **kwargs: asked.append(("run", budget)) or ("m", 0))
    out = ["--results-dir", str(tmp_path / "r"), "--html-dir", str(tmp_path / "h"), "--workload", "matmul"]
    assert cli.main(["run", "--budget", "5", "--resume", *out]) == 0 and asked == [("run", 5.0)]
    asked.clear()
    assert cli.main(["run", "--budget", "5", *out]) == 0 and asked == ["cli", ("run", 5.0)]
