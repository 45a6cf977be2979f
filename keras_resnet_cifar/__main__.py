"""`python -m keras_resnet_cifar ...` is the same as `keras-resnet-cifar ...`."""
import sys

from keras_resnet_cifar.cli import main

sys.exit(main())
