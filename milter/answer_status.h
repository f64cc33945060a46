// The libmilter status of a filter answer: what the adapter returns from a
// callback (after the answer's side effects, see libmilter_adapter.cpp). Kept
// apart so that tests check the mapping without an MTA.
#pragma once

#include "filter/filter_answer.h"

#include <libmilter/mfapi.h>

namespace quotamilter::milter {

using filter::FilterAnswer;


// continue_ and quarantine (an end-of-message action) -> SMFIS_CONTINUE;
// no_reply -> SMFIS_NOREPLY (only from a stage negotiated "no reply", where
// it is the only answer libmilter passes on); the others as named.
sfsistat answer_status(const FilterAnswer& answer) noexcept;

}  // namespace quotamilter::milter
