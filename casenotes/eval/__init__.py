"""The evaluation harness (``casenotes eval``): how good are the notes, and is a change better?

    datasets.py   loaders -> ``Dialogue`` (a case file plus reference summaries)
    systems.py    progressive, progressive-nofilter, chunk-N, bulk and simple baselines
    rouge.py, bertscore.py, textstats.py   reference-based and reference-free metrics
    judge.py      the LLM judge (method rubric), cached on disk; agreement.py: judge vs humans
    stats.py      paired bootstrap CIs and t-tests between systems
    report.py     results.json, report.md, report.html with plots
    run.py        ``casenotes eval run``: datasets x systems -> metrics -> report

Every system goes through the same engines and note-taking core as the worker, so a score here
is a score of what production writes.
"""
