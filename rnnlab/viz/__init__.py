"""Pictures of what the networks compute, as self-contained SVG and HTML (NumPy and the standard library
only; no network access when the files are opened).

    tree.py          a parse tree with every node coloured by its predicted sentiment (SST's five classes)
    activations.py   a character model's text shaded by one unit's activation or gate value
"""
from .activations import activation_html, feature_correlations, hidden_activations
from .tree import tree_html, tree_svg

__all__ = ["tree_svg", "tree_html", "hidden_activations", "feature_correlations", "activation_html"]
