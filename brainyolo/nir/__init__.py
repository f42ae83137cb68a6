"""Spiking networks of the neuromorphic ecosystem, through NIR (the Neuromorphic Intermediate Representation).

A NIR graph (written by snnTorch, Norse, Sinabs, Rockpool, spikingjelly, ... or with the ``nir`` package) is
not a detector: any input shape, dense layers, per-neuron parameters. It becomes a :class:`SpikingModel` of
its own file kind (``format = "brainyolo-snn"``), simulated in Brian2 with NIR's own neuron equations::

    layers       the layer kinds of a spiking model, their shape and check rules, the model and its checks
    model_file   the versioned, sealed HDF5 file of a spiking model
    nir_import   NIR graph -> spiking model (one rule per NIR node type)
    nir_export   spiking model -> NIR graph (one rule per layer kind)
    connections  the Brian2 connection between two neuron layers: the weight-shared convolution or composed Synapses
    simulate     the Brian2 network of a spiking model (runtime or C++ standalone), its spikes and traces
"""
