"Everything a user needs: `from cassava_fa.all import *`"
from fastai.vision.all import *
from .core import *
from .augment import *
from .data import *
from .learner import *
