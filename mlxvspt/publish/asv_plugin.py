"""asv plugin, named in asv.conf.json's "plugins": plain `asv publish` writes the site this project publishes.

asv runs every OutputPublisher subclass after writing the graphs; `ProjectSite` runs last and
- writes the graph files asv leaves out. asv's graph page loads, for the benchmark shown, one file per
  entry of index.json's graph_param_list (every machine/os/python of any result), but asv writes one only
  where that benchmark has results: a machine that never ran a workload gave a 404 and a console error.
  An empty file (no points) there makes index and graph files agree; likewise the grid's summary file
  of a benchmark no result has (e.g. only retired results had it).
- points the pages' CDN scripts and stylesheets at local copies (`site.make_offline`).
So `asv publish`, `asv preview` and `mlxvspt run`/`publish` all give the same site, one that works offline.
"""
import json
import math
from pathlib import Path

from asv.graph import Graph
from asv.publishing import OutputPublisher

from . import site


SUMMARY = {"summary": ""}  # graphs/summary/<benchmark>.json, which the benchmark grid loads


def graph_param_list(graphs):
    """The machine/os/python/branch sets of index.json's graph_param_list, computed as asv's publish does."""
    found = []
    for _, graph in graphs:
        if "summary" not in graph.params and graph.params not in found:
            found.append(graph.params)
    return found


def write_missing_graphs(html_dir, benchmarks, graphs):
    """An empty graph file (no points) wherever a benchmark has none for an entry of graph_param_list,
    and an empty summary (the grid's sparkline) for a benchmark with no results at all."""
    for params in graph_param_list(graphs) + [SUMMARY]:
        for name in benchmarks:
            path = Path(html_dir) / (Graph.get_file_path(params, name) + ".json")
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps([]))


class ProjectSite(OutputPublisher):
    name = "mlxvspt"
    button_label = "mlxvspt"
    description = "Every graph file the graph page asks for; local copies of the CDN scripts and stylesheets"
    order = math.inf  # after asv's own pages

    @classmethod
    def publish(cls, conf, repo, benchmarks, graphs, revisions):
        write_missing_graphs(conf.html_dir, benchmarks, graphs)
        site.make_offline(conf.html_dir)
