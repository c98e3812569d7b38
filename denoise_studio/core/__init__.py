"""The pure core: images, noise, metrics, parameters, the method interface, tiling, weights.

Imports numpy, OpenCV and torch only; never Qt, pyqtgraph, the GUI or any method.
"""
