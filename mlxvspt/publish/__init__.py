"""publish: the results layer and its renderers, reading what runs stored.

Owns `results` (asv's result files as rows of this suite: the one place the renderers read them),
`regressions` (the statistics that decide a change), `report` (the Markdown tables), `release_diff`
(`mlxvspt compare`: one release against another), `comparison_page` (the MLX vs PyTorch page,
compare.html, from comparison.html beside it), `charts` (PNG charts), `site` (asv's site made offline
with site_assets/), `asv_plugin` (the asv plugin that calls `site` after `asv publish`).

May import `mlxvspt.errors`, `mlxvspt.paths`, `mlxvspt.ledger`, the names of `mlxvspt.workloads` (the
registry) and measure's ground that describes a row (`presets`, `check`); never measure's device code
(`devices`, `frameworks`, `asvbench`, `process`, ...), nor `mlxvspt.track` or `mlxvspt.cli`
(tests/test_layout.py holds it).
"""
