"""track: releases, and the runs that measure them.

Owns `asvrun` (a run: asv driven over the measuring processes, its records, its site), `plan` (which
rows a run takes in its budget), `recorder` and `progress` (a run's records and progress), `locks` (one
run a results folder), `merge` (parts of a run from several machines into one), `update` (new releases
into the ledger and measured), `confirm` (a regression measured again before it is reported), `bisect`
(the release that brought a change), `pkgindex` (what the package index offers), `install_pins` (the
script asv runs to install one ledger entry's pins into its virtualenv; it imports nothing of mlxvspt).

May import `mlxvspt.errors`, `mlxvspt.paths`, `mlxvspt.ledger`, `mlxvspt.measure` (settings, devices,
presets, check: never the measuring process itself, which it launches with -m), `mlxvspt.workloads` and
`mlxvspt.publish` (a run writes its results and site; update and confirm read release_diff's decisions).
Only `mlxvspt.cli` imports it (tests/test_layout.py holds it).
"""
