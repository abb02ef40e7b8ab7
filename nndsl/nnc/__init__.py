"""Interop with Sony's Neural Network Console (NNC) and nnabla, its runtime.

- `project`: an NNC project as NNC holds it (networks of layers and links, datasets, config),
  read from `.sdcproj`, `.nntxt` or `.nnp`, every item remembering where it was read (file,
  section, line) so that a diagnostic points into the user's file.
- `names`: the names nnabla gives the parameters of an nndsl layer ("conv1/conv/W",
  "Convolution_5[0]/conv/W"), and the shapes it stores them in.
"""
