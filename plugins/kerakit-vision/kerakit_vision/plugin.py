"""Hook implementations: what the ``vision`` plugin registers."""

from __future__ import annotations

import kerakit
from kerakit_vision import augment, blocks, training

KERAKIT_PLUGIN_API = [1]


@kerakit.hookimpl
def kerakit_augmentations(register):
    register("mixup", augment.MixUp, batch_level=True)
    register("cutmix", augment.CutMix, batch_level=True)
    register("random_erasing", augment.random_erasing)


@kerakit.hookimpl
def kerakit_blocks(register):
    register("se_block", blocks.SqueezeExcite)
    register("bottleneck_block", blocks.BottleneckBlock)
    register("separable_conv_block", blocks.SeparableConvBlock)


@kerakit.hookimpl
def kerakit_losses(register):
    register("focal_loss", training.FocalLoss)


@kerakit.hookimpl
def kerakit_callbacks(register):
    register("cosine_warmup", training.CosineWarmup)
