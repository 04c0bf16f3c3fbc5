"""Converters between rnnlab's layout and other libraries'. Gate orders are translated here and
nowhere else (STYLE.md, principle 6); ``_layout`` names them all in one table.

    torch   nn.RNN / LSTM / GRU (+ nn.Linear head): modules, state_dicts, .pt files
    keras   Keras 3 SimpleRNN / LSTM / GRU / Bidirectional / Dense: objects, .keras, .weights.h5
    tf1     TensorFlow 1 BasicLSTMCell / LSTMCell / GRUCell / BasicRNNCell variables as arrays
            and checkpoint files (.index + .data-*, read by tf_bundle without TensorFlow)
    onnx    ONNX RNN / LSTM / GRU operator graphs, .onnx files
    files   load_any / save_any by file ending (used by ``rnnlab convert``)

Submodules import their library lazily, inside the functions that need it."""
