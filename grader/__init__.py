"""torch-katas: PyTorch katas and the out-of-process grader that scores them."""

__version__ = "0.1.0"
