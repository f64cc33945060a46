// A whole message walked through the milter's stages, for `explain` and the
// test that holds explain and the milter to the same answers
// (tests/filter/test_stage_agreement.cpp). Each step is what the milter does
// at that stage, asked of the same rules::decide_at the milter asks: a
// content rule that acts, a quota the store is asked about, the quotas
// charged at end of message, monitor quotas, tags. It stops where the
// message would be refused if every counter were full, as the milter would.
// Pure.
#pragma once

#include "rules/evaluate.h"
#include "rules/stage_plan.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quotamilter::rules {

struct StageStep {
    enum class Kind {
        content,  // a content rule acts: refuses (the message, or at RCPT this recipient), quarantines, discards
        check,    // MAIL/RCPT: the store is asked whether this quota still has room
        charge,   // end of message: charged with every other enforced quota, all or none
        monitor,  // end of message: a monitor quota counts and logs "would ..."; a monitor content rule logs it
        tag,      // end of message: a header is added to the accepted message
    };
    Kind kind = Kind::check;
    Stage stage = Stage::mail;
    std::optional<std::size_t> recipient;  // at RCPT: which of the message's recipients
    const Policy* policy = nullptr;
    const Quota* quota = nullptr;          // check, charge, monitor (a quota's; unset for a content rule's)
    std::string tracked_value;
    std::uint64_t cost = 0;
};

// `facts` describes the whole message: its recipients, its headers when
// known (else end of headers decides nothing), its size.
std::vector<StageStep> stage_steps(const RuleSet& rules, const MessageFacts& facts);

// Would this step refuse or hold the message if its counter had no room left
// (check, charge), or at all (content)?
bool acts_when_full(const StageStep& step);

}  // namespace quotamilter::rules
