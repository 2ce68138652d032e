"""The nightly GitHub Actions workflow, parsed: scheduled, one self-hosted job per kind of machine, each
running `mlxvspt update`, and html/ deployed to GitHub Pages after them."""
from pathlib import Path

import yaml  # PyYAML comes with transformers

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())


def runs(job):
    return "\n".join(step.get("run", "") for step in job["steps"])


def labels(job):
    """Every runner label set the job may run on (one per matrix entry)."""
    if isinstance(job["runs-on"], list):
        return [job["runs-on"]]
    return [entry["runner"] for entry in job["strategy"]["matrix"]["include"]]


def test_runs_nightly_and_on_demand():
    triggers = WORKFLOW[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"] and "workflow_dispatch" in triggers


def test_the_cold_tier_runs_weekly_on_the_gpu_machine():
    weekly = WORKFLOW[True]["schedule"][1]["cron"]
    assert weekly.split()[2:] == ["*", "*", "0"]
    cold = WORKFLOW["jobs"]["cold"]
    assert weekly in cold["if"] and "mlxvspt-nvidia" in cold["runs-on"]
    assert "--tier cold" in runs(cold) and "commit-results.sh" in runs(cold)


def test_each_kind_of_machine_runs_update_on_a_self_hosted_runner():
    jobs = WORKFLOW["jobs"]
    machines = {}
    for name in ("ledger", "gpu"):
        for label_set in labels(jobs[name]):
            assert "self-hosted" in label_set
            machines.update({label: name for label in label_set if label.startswith("mlxvspt-")})
        assert "mlxvspt update --preset " in runs(jobs[name]) and "make setup" in runs(jobs[name])
        assert "commit-results.sh" in runs(jobs[name])
    assert machines == {"mlxvspt-cpu": "ledger", "mlxvspt-nvidia": "gpu", "mlxvspt-apple": "gpu"}
    assert "--preset history" in runs(jobs["ledger"]) and jobs["gpu"]["needs"] == "ledger"
    assert "--device gpu --headline" in runs(jobs["gpu"])  # a GPU point's headline: a quarter of an hour
    assert (ROOT / ".github" / "commit-results.sh").stat().st_mode & 0o111


def test_publishes_html_to_github_pages_after_every_machine():
    publish = WORKFLOW["jobs"]["publish"]
    assert set(publish["needs"]) == {"ledger", "gpu"} and "mlxvspt publish" in runs(publish)
    uses = [step.get("uses", "") for step in publish["steps"]]
    upload = next(s for s in publish["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "html" and any(u.startswith("actions/deploy-pages") for u in uses)
    assert "mlxvspt publish --html-dir html" in runs(publish)  # the folder uploaded, not a local run's site
    assert WORKFLOW["permissions"]["pages"] == "write" and WORKFLOW["permissions"]["id-token"] == "write"
