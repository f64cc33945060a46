#include "milter/answer_status.h"

namespace quotamilter::milter {

using filter::FilterAnswer;


sfsistat answer_status(const FilterAnswer& answer) noexcept {
    switch (answer.action) {
        case FilterAnswer::Action::continue_: return SMFIS_CONTINUE;
        case FilterAnswer::Action::accept: return SMFIS_ACCEPT;
        case FilterAnswer::Action::reject: return SMFIS_REJECT;
        case FilterAnswer::Action::tempfail: return SMFIS_TEMPFAIL;
        case FilterAnswer::Action::discard: return SMFIS_DISCARD;
        case FilterAnswer::Action::quarantine: return SMFIS_CONTINUE;
        case FilterAnswer::Action::no_reply: return SMFIS_NOREPLY;
    }
    return SMFIS_CONTINUE;
}

}  // namespace quotamilter::milter
