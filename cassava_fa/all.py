"Everything a user needs: `from cassava_fa.all import *` (after fastai's, so our MixUp/CutMix/FocalLoss win)"
from fastai.vision.all import *
from .core import *
from .augment import *
from .data import *
from .losses import *
from .optim import *
from .mix import *
from .learner import *
from .training import *
