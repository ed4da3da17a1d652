"""Model warehouse and DT4M migration (paper 4.1): DT model packages as AASX files, a local
warehouse with an SQLite index, the f_predict recommender and migration to a new workshop.

Modules: :mod:`.model` (what a package is), :mod:`.attributes` (Table-2 attributes and
transferability), :mod:`.pm` (the PM section and the warehouse's throughput PM),
:mod:`.kg` (the RDF knowledge graph), :mod:`.aasx` (AASX read/write with BaSyx),
:mod:`.store` (the warehouse), :mod:`.recommender` (Transformer f_predict and the synthetic
bootstrap), :mod:`.migrate` (migration), :mod:`.samples` (the bundled models B–F),
:mod:`.cli` (the sub-commands). Format: docs/warehouse.md.
"""
