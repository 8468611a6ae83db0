"""Offline datasets as `TensorDataset`s (real Fashion-MNIST from disk, sklearn's digits and
breast-cancer diagnostic data), and non-IID partitions of them across federated clients
(`skyline.data.partition`)."""

from skyline.data import partition
from skyline.data.breast_cancer import breast_cancer, standardize
from skyline.data.digits import digits
from skyline.data.fashion_mnist import CLASSES, MEAN, ROOT_ENV, STD, fashion_mnist
from skyline.data.idx import read_idx
from skyline.data.split import split_holdout

__all__ = [
    "CLASSES",
    "MEAN",
    "ROOT_ENV",
    "STD",
    "breast_cancer",
    "digits",
    "fashion_mnist",
    "partition",
    "read_idx",
    "split_holdout",
    "standardize",
]
