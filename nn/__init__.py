"""nn: modules, layers, losses, optimizers, initialisers and save/load for tinygrad_np — shaped like `torch.nn`.

    import nn
    model = nn.MLP([784, 128, 64, 10])
    opt = nn.optim.Adam(model.parameters(), lr=1e-3)
    loss = nn.functional.cross_entropy(model(x), y)     # or nn.F.cross_entropy
    train = nn.data.DataLoader(x, y, batch_size=128, shuffle=True, seed=0)
    mnist = nn.datasets.mnist(normalize=True, flatten=True)
"""
from . import data, datasets, functional, init, optim, utils
from . import functional as F
from .activation import (
                     CELU,
                     ELU,
                     SELU,
                     Hardsigmoid,
                     Hardswish,
                     Hardtanh,
                     LogSigmoid,
                     Mish,
                     ReLU6,
                     SiLU,
                     Softmin,
                     Softsign,
)
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from .data import DataLoader
from .layers import (
                     GELU,
                     MLP,
                     Dropout,
                     Dropout2d,
                     Flatten,
                     Identity,
                     LeakyReLU,
                     Linear,
                     LogSoftmax,
                     ReLU,
                     Sigmoid,
                     Softmax,
                     Tanh,
)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, ParameterList, Sequential
from .normalization import BatchNorm1d, BatchNorm2d
from .serialization import load, save

__all__ = [
    "functional", "F", "init", "optim", "data", "datasets", "utils", "DataLoader", "save", "load",
    "Module", "Parameter", "Sequential", "ModuleList", "ParameterList",
    "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax", "Flatten", "Identity",
    "Dropout", "Dropout2d", "MLP",
    "CELU", "ELU", "SELU", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid", "Mish", "ReLU6", "SiLU", "Softmin",
    "Softsign",
    "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss",
]
