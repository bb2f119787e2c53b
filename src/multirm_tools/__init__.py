"""multirm-tools: predict twelve human RNA modifications from sequence.

The library does the work; ``multirm_tools.cli`` holds the thin command-line
front ends. Data flows one way: FASTA -> windows -> tensors -> scores -> files.
"""

__version__ = "0.1.0"
