"""ADaM (ADaMIG 1.3) datasets derived from an SDTM release: ADSL, ADLB, ADTTE, ADRS, ADAE."""
