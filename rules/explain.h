// The text of `quotamilter explain`: every policy in evaluation order, matched
// or not and why, the quotas that apply with their tracked keys and counter
// identities, and where an exempt policy stopped evaluation. Pure: the CLI
// only prints it.
#pragma once

#include "rules/evaluate.h"
#include "rules/stage_walk.h"

#include <functional>
#include <string>

namespace quotamilter::rules {

struct ExplainInput {
    std::string sender_as_given;                 // the --sender argument, shown when it differs from the normalised form
    std::vector<std::string> recipients_as_given;
    MessageFacts facts;                          // normalised
    // Optional: the store's key of a counter (the CLI passes the Redis key
    // layout); when set, explain prints it under each tracked key.
    std::function<std::string(const ApplicableQuota&)> store_key;
};

std::string explain_text(const RuleSet& rules, const ExplainInput& input);

// One line of explain's "stage by stage" section, e.g.
// "MAIL FROM: asks the store about user1_ratelimit/sender/messages/1800s key user1@hudedu.net (cost 1): reject (550 5.7.1) when full".
std::string stage_step_text(const StageStep& step, const MessageFacts& facts);

// "user1_ratelimit/sender/messages/1800s": the counter a quota uses, without
// the tracked value (the store adds its prefix and the value).
std::string counter_identity(const Policy& policy, const Quota& quota);

// "50 messages per 30m", "500MB per 1d" style summary of a quota's limit.
std::string describe_limit(const Quota& quota);

}  // namespace quotamilter::rules
