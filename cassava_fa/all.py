"Everything a user needs: `from cassava_fa.all import *` (after fastai's, so our MixUp/CutMix/FocalLoss win)"
from fastai.vision.all import *
import timm
import albumentations as albu   # not `A`: fastai.vision.all binds that name
from .core import *
from .augment import *
from .data import *
from .losses import *
from .callbacks import *
from .optim import *
from .mix import *
from .learner import *
from .snapshots import *
from .inference import *
from .cv import *
from .interpret import *
from .noisy import *
from .stacking import *
from .distributed import *
