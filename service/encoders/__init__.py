"""Encoder backends behind one port (`base.Encoder`): ONNX Runtime or Triton;
`factory.open_encoder` picks one from settings."""
