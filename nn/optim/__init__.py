"""Optimizers (`SGD`, `Adam`, `AdamW`, `RMSprop`) and, in `nn.optim.lr_scheduler`, learning-rate schedules."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
