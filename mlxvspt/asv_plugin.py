"""asv plugin, named in asv.conf.json's "plugins": plain `asv publish` writes the site this project publishes.

asv runs every OutputPublisher subclass after writing the graphs. These two run last:
- `EveryGraph`: asv's graph page loads, for the benchmark shown, one file per entry of index.json's
  graph_param_list (every machine/os/python seen in any result), but writes files only where that
  benchmark has results: each missing one is a 404 and a console error in the browser (a machine that
  never ran a workload). It writes those files with no points, so index and graph files agree.
- `OfflineSite`: points the pages' CDN scripts and stylesheets at local copies (`site.make_offline`).
So `asv publish`, `asv preview` and `mlxvspt run`/`publish` all give the same site, one that works offline.
"""
import json
import math
from pathlib import Path

from asv.graph import Graph
from asv.publishing import OutputPublisher

from . import site


def graph_param_list(graphs):
    """The machine/os/python/branch sets of index.json's graph_param_list, computed as asv's publish does."""
    found = []
    for _, graph in graphs:
        if "summary" not in graph.params and graph.params not in found:
            found.append(graph.params)
    return found


class EveryGraph(OutputPublisher):
    name = "every-graph"
    button_label = "Every graph"
    description = "An empty graph file for each benchmark a machine did not run, so the graph page finds it"
    order = math.inf

    @classmethod
    def publish(cls, conf, repo, benchmarks, graphs, revisions):
        for params in graph_param_list(graphs):
            for name in benchmarks:
                path = Path(conf.html_dir) / (Graph.get_file_path(params, name) + ".json")
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps([]))


class OfflineSite(OutputPublisher):
    name = "offline"
    button_label = "Offline"
    description = "Local copies of the scripts and stylesheets asv's pages load from CDNs"
    order = math.inf

    @classmethod
    def publish(cls, conf, repo, benchmarks, graphs, revisions):
        site.make_offline(conf.html_dir)
