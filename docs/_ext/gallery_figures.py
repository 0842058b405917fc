"""sphinx-gallery scraper for matplotlib Figures made without pyplot.

``xanesnet_sk.plots`` and the analysis plots build
:class:`matplotlib.figure.Figure` objects directly (no pyplot, no global
figure registry), so sphinx-gallery's own matplotlib scraper, which asks
pyplot for its open figures, never sees them.  This scraper looks through the
example's globals after each code block for Figures it has not saved yet
(``fig = plot_spectrum(...)``) and saves them as the block's images, at the
resolutions of ``image_srcset`` (1x and 2x for high-DPI screens), as the
matplotlib scraper does.

It runs before the matplotlib scraper.  Pyplot figures still open then
(``canvas.manager`` set) are the matplotlib scraper's: they are marked as
seen here, so that once that scraper has closed them (which clears their
manager) a later block does not take them for pyplot-free figures and show
them a second time.
"""

from pathlib import PurePosixPath

from sphinx_gallery.scrapers import figure_rst

#: The example being run and the Figures of it already saved or left to pyplot
#: (only one example runs at a time).
_seen = {"src_file": None, "figures": []}

#: Resolution of the 1x image (matplotlib's default); 2x images are saved at twice this.
DPI = 100


def _save(figure, path, srcset):
    """Save ``figure`` at 1x and at each factor of ``srcset``; the srcset mapping."""
    figure.savefig(path, dpi=DPI)
    paths = {0: path}
    for mult in srcset:
        mult = float(str(mult).rstrip("x"))
        path_ = PurePosixPath(path)
        factor = f"{mult:.2f}".replace(".", "_")
        hipath = str(path_.parent / f"{path_.stem}_{factor}x{path_.suffix}")
        figure.savefig(hipath, dpi=mult * DPI)
        paths[mult] = hipath
    return paths


def figure_scraper(block, block_vars, gallery_conf):
    """Save the new pyplot-free Figures of one code block; return their reST."""
    from matplotlib.figure import Figure

    # the Figures themselves, not their ids: an id can be reused once a figure is freed
    if _seen["src_file"] != block_vars["src_file"]:
        _seen.update(src_file=block_vars["src_file"], figures=[])
    seen = _seen["figures"]
    paths, srcsets = [], []
    for value in list(block_vars["example_globals"].values()):
        if not isinstance(value, Figure) or any(value is old for old in seen):
            continue
        seen.append(value)
        if value.canvas.manager is not None:
            continue                    # a pyplot figure: the matplotlib scraper saves it
        path = next(block_vars["image_path_iterator"])
        srcsets.append(_save(value, path, gallery_conf.get("image_srcset", [])))
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"], srcsetpaths=srcsets)
