"""The Keras 3 part of nndsl's runtime: NNC's layers (`nnc_layers`), parameters and losses (`nnc`),
solvers (`solvers`), tf.data pipelines (`data`) and TensorFlow's quiet start-up (`tf_startup`)."""
