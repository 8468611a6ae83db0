"""The breast-cancer stand-in for hospital records: real sklearn data, standardized with training
statistics only, and usable as an FL task (2 classes, MLP only)."""

import pytest
import torch
from torch.utils.data import TensorDataset

from skyline.data import breast_cancer, standardize
from skyline.errors import ConfigError
from skyline.fl import task as fl_task
from skyline.fl.task import Task, build_model, client_data


def test_raw_data_is_sklearns_569_patients():
    data = breast_cancer()
    x, y = data.tensors
    assert x.shape == (569, 30) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert int((y == 0).sum()) == 212 and int((y == 1).sum()) == 357  # malignant, benign


def test_standardize_uses_the_training_split_only():
    train = TensorDataset(torch.tensor([[1.0, 5.0], [3.0, 5.0]]), torch.tensor([0, 1]))
    test = TensorDataset(torch.tensor([[5.0, 7.0]]), torch.tensor([1]))
    # train: mean (2, 5), sample std (sqrt(2), 0 -> only shifted)
    new_train, new_test = standardize(train, test)
    s = 2**0.5
    assert torch.allclose(new_train.tensors[0], torch.tensor([[-1 / s, 0.0], [1 / s, 0.0]]))
    assert torch.allclose(new_test.tensors[0], torch.tensor([[3 / s, 2.0]]))
    assert torch.equal(new_test.tensors[1], test.tensors[1])


def test_task_splits_80_20_and_builds_a_two_class_mlp():
    task = Task(dataset="breast_cancer", clients=8, alpha=1.0, seed=3)
    shards = [client_data(task, c) for c in range(8)]
    assert sum(len(s) for s in shards) == 455 and len(fl_task.test_data(task)) == 114
    train = torch.cat([s.tensors[0] for s in shards])
    assert torch.allclose(train.mean(0), torch.zeros(30), atol=1e-5)
    assert torch.allclose(train.std(0), torch.ones(30), atol=1e-5)
    assert build_model(task)(train[:4]).shape == (4, 2)
    with pytest.raises(ConfigError, match="tabular"):
        Task(dataset="breast_cancer", model="cnn")
