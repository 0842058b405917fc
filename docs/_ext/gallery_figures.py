"""sphinx-gallery scraper for matplotlib Figures made without pyplot.

``xanesnet_sk.plots`` and the analysis plots build
:class:`matplotlib.figure.Figure` objects directly (no pyplot, no global
figure registry), so sphinx-gallery's own matplotlib scraper, which asks
pyplot for its open figures, never sees them.  This scraper looks through the
example's globals after each code block for Figures it has not saved yet
(``fig = plot_spectrum(...)``) and saves them as the block's images.
"""

from sphinx_gallery.scrapers import figure_rst

#: The example being run and the Figures of it already saved (only one example at a time).
_seen = {"src_file": None, "figures": []}


def figure_scraper(block, block_vars, gallery_conf):
    """Save the new pyplot-free Figures of one code block; return their reST."""
    from matplotlib.figure import Figure

    # the Figures themselves, not their ids: an id can be reused once a figure is freed
    if _seen["src_file"] != block_vars["src_file"]:
        _seen.update(src_file=block_vars["src_file"], figures=[])
    seen = _seen["figures"]
    paths = []
    for value in list(block_vars["example_globals"].values()):
        if (isinstance(value, Figure) and value.canvas.manager is None
                and not any(value is old for old in seen)):
            seen.append(value)
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=110)
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
