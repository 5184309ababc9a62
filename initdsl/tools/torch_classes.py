"""The ``nn.Module`` class names ``import torch`` defines, and their direct bases' names.

A cache, read off torch 2.13.0+cpu: it lets ``initdsl lint`` without a model
tell that a layer name such as ``Conv2d`` or ``_BatchNorm`` is a known class
without importing torch (seconds, for a pre-commit hook). It only ever
says "known": a name not in it is looked up in torch itself
(:func:`initdsl.tools.lint.known_layer_names`), and a test checks it against
the torch installed.
"""

from __future__ import annotations

__all__ = ["TORCH_MODULE_NAMES"]

TORCH_MODULE_NAMES = frozenset({
    "ABC", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveLogSoftmaxWithLoss", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "AffineQuantizedObserverBase", "AlphaDropout", "AveragedModel", "AvgPool1d", "AvgPool2d",
    "AvgPool3d", "BCELoss", "BCEWithLogitsLoss", "BNReLU2d", "BNReLU3d", "BatchNorm1d",
    "BatchNorm2d", "BatchNorm3d", "Bilinear", "CELU", "CTCLoss", "ChannelShuffle",
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "Container", "Conv1d", "Conv2d", "Conv3d", "ConvAdd2d", "ConvAddReLU2d",
    "ConvBn1d", "ConvBn2d", "ConvBn3d", "ConvBnReLU1d", "ConvBnReLU2d", "ConvBnReLU3d",
    "ConvReLU1d", "ConvReLU2d", "ConvReLU3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "CosineEmbeddingLoss", "CosineSimilarity", "CrossEntropyLoss",
    "CrossMapLRN2d", "DataParallel", "DeQuantStub", "DeQuantize", "DistributedDataParallel",
    "DistributedDataParallelCPU", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "ELU",
    "Embedding", "EmbeddingBag", "EmbeddingPackedParams", "FXFloatFunctional", "FakeQuantize",
    "FakeQuantizeBase", "FeatureAlphaDropout", "FixedQParamsFakeQuantize",
    "FixedQParamsObserver", "Flatten", "FloatFunctional", "Fold", "FoldedGraphModule",
    "FractionalMaxPool2d", "FractionalMaxPool3d", "FusedMovingAvgObsFakeQuantize", "GELU",
    "GLU", "GRU", "GRUCell", "GaussianNLLLoss", "Generic", "GraphModule", "GroupNorm",
    "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh", "HingeEmbeddingLoss",
    "HistogramObserver", "HolderModule", "HuberLoss", "Identity", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d", "InterpreterModule", "InterpreterModuleDispatcher",
    "Joinable", "KLDivLoss", "L1Loss", "LPPool1d", "LPPool2d", "LPPool3d", "LSTM", "LSTMCell",
    "LayerNorm", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d",
    "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
    "LazyConvTranspose3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d",
    "LazyLinear", "LazyModuleMixin", "LeakyReLU", "Linear", "LinearBn1d",
    "LinearCrossEntropyLoss", "LinearLeakyReLU", "LinearPackedParams", "LinearReLU",
    "LinearTanh", "LocalResponseNorm", "LogSigmoid", "LogSoftmax", "MSELoss",
    "MarginRankingLoss", "MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d",
    "MaxUnpool3d", "MinMaxObserver", "Mish", "Module", "ModuleDict", "ModuleList",
    "MovingAverageMinMaxObserver", "MovingAveragePerChannelMinMaxObserver",
    "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "MultiheadAttention",
    "NLLLoss", "NLLLoss2d", "NonDynamicallyQuantizableLinear", "NoopObserver",
    "ONNXTracedModule", "ObserverBase", "PReLU", "PackedParameter", "PairwiseDistance",
    "ParameterDict", "ParameterList", "ParametrizationList", "PerChannelMinMaxObserver",
    "PixelShuffle", "PixelUnshuffle", "PlaceholderObserver", "PoissonNLLLoss", "QFunctional",
    "QuantStub", "QuantWrapper", "Quantize", "RMSNorm", "RNN", "RNNBase", "RNNCell",
    "RNNCellBase", "RReLU", "ReLU", "ReLU6", "RecordingObserver", "RecursiveScriptModule",
    "ReferenceQuantizedModule", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ReuseInputObserver", "SELU",
    "ScriptModule", "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss", "SoftMarginLoss",
    "Softmax", "Softmax2d", "Softmin", "Softplus", "Softshrink", "Softsign", "SyncBatchNorm",
    "Tanh", "Tanhshrink", "Threshold", "TopLevelTracedModule", "TracedModule", "Transformer",
    "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
    "Unflatten", "UnflattenedModule", "Unfold", "UniformQuantizationObserverBase", "Upsample",
    "UpsamplingBilinear2d", "UpsamplingNearest2d", "WeightedQuantizedModule", "ZeroPad1d",
    "ZeroPad2d", "ZeroPad3d", "_AdaptiveAvgPoolNd", "_AdaptiveMaxPoolNd", "_AvgPoolNd",
    "_BatchNorm", "_CircularPadNd", "_CodeOnlyModule", "_ConstantPadNd", "_ConvBnNd", "_ConvNd",
    "_ConvTransposeMixin", "_ConvTransposeNd", "_DerivedObserverOrFakeQuantize", "_DropoutNd",
    "_FusedModule", "_InstanceNorm", "_LPPoolNd", "_LSTMLayer", "_LSTMSingleLayer",
    "_LazyConvXdMixin", "_LazyGraphModule", "_LazyNormBase", "_Loss", "_MaxPoolNd",
    "_MaxUnpoolNd", "_NormBase", "_Orthogonal", "_ReflectionPadNd", "_ReplicationPadNd",
    "_SpectralNorm", "_SubmoduleBase", "_WeightNorm", "_WeightedLoss", "_WrappedMethod",
})
