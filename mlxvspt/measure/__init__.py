"""measure: what runs on a device, from the target it runs on to the process that times it.

Owns two tiers, with the workloads between them:
- the ground the workloads stand on: `devices` (a Target: framework x device x precision, its
  activation, library versions), `frameworks/` (one module per framework), `settings` (every
  environment variable a measuring process reads), `presets` (the sizes of each preset), `check` (the
  cross-check's lines), `weights` (seeded weights), `timing` (warm-up to steady state), `energy` (a
  GPU's energy counter around a block), `processes` (finding and stopping a command's children). These
  import only `mlxvspt.errors`, `mlxvspt.paths`, `mlxvspt.ledger` and each other.
- the measuring side, which builds workloads and times them: `asvbench` (the classes asv runs),
  `process` (the measuring process, `python -m mlxvspt.measure.process REQUEST.json`), `overhead`
  (the suite's own per-step overhead), `profile` (a GPU profile of one combination). These may import
  `mlxvspt.workloads` too.

Nothing here imports `mlxvspt.track`, `mlxvspt.publish` or `mlxvspt.cli` (tests/test_layout.py holds it).
"""
