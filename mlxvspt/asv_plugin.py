"""asv plugin, named in asv.conf.json's "plugins": plain `asv publish` writes the offline site.

asv runs every OutputPublisher subclass after writing the graphs; this one runs last and points the
published pages' CDN scripts and stylesheets at local copies (`site.make_offline`), so `asv publish`,
`asv preview` and `mlxvspt run`/`publish` all give the same site, one that works without internet.
"""
import math

from asv.publishing import OutputPublisher

from . import site


class OfflineSite(OutputPublisher):
    name = "offline"
    button_label = "Offline"
    description = "Local copies of the scripts and stylesheets asv's pages load from CDNs"
    order = math.inf

    @classmethod
    def publish(cls, conf, repo, benchmarks, graphs, revisions):
        site.make_offline(conf.html_dir)
