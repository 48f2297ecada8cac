"""What people get from a run, in one vocabulary:

- the **run workbook** (``run_workbook``): one .xlsx per run, one row per item, written once;
- the **specialists' workbook** (``specialists_workbook``): the one .xlsx the specialists keep
  open all day (follow-ups, eligibility, claim status, rejected rows), rewritten after every
  run; ``workbook_sync`` merges their edits back into the store before each rewrite;
- the terminal summary (``report``) and the morning digest (``digest``).
"""
