// The stage plan: at which SMTP stage each rule can act, decided once here for
// the milter (filter/session.cpp), the negotiation with the MTA
// (milter/negotiation.cpp) and `explain`, so that they agree by construction.
//
//   - A quota can refuse before DATA (at MAIL FROM or RCPT TO) only when it is
//     enforced and its verdict is reject or tempfail; quarantine and discard
//     accept the mail into the MTA and act at end of message; monitor quotas
//     never refuse (they count and log "would ...").
//   - A content rule (a policy with a `verdict`) acts as soon as its
//     conditions are known and no content rule before it can still decide:
//     reject or tempfail on envelope conditions alone at MAIL FROM (or, when
//     it depends on recipients, at each RCPT TO: that recipient only); with
//     header conditions at end of headers; quarantine, discard and tag at end
//     of message (the MTA's end-of-message actions).
//   - Mail submitted without SMTP (Postfix non_smtpd_milters) is decided at
//     end of message whatever the plan says: the MTA wants its refusals there.
// Pure: no I/O.
#pragma once

#include "rules/evaluate.h"
#include "rules/rule_set.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quotamilter::rules {

// "MAIL", "RCPT", "END-OF-HEADERS", "END-OF-MESSAGE": the stage= of log lines.
std::string_view stage_log_name(Stage stage);
// "MAIL FROM", "RCPT TO", "end of headers", "end of message": for explain.
std::string_view stage_text(Stage stage);

// Can this quota refuse at MAIL FROM or RCPT TO (an enforced reject or tempfail)?
bool refuses_before_data(const Policy& policy, const Quota& quota);

// The cost an early (MAIL/RCPT) check asks about: a message has at least one
// byte, so an exhausted bytes quota refuses even without SIZE=.
std::uint64_t early_check_cost(const ApplicableQuota& quota);

// The quotas of `plan` (from plan_at_mail at MAIL FROM, plan_message at RCPT
// TO) that an early check asks the store about: those that refuse before DATA
// and cost something, in plan order.
std::vector<const ApplicableQuota*> early_checks(const MessagePlan& plan);

// The content rule of `plan` that acts at `stage` with a refusal (reject or
// tempfail), if any: the deciding verdict (deciding_verdict) when its stage
// has come. At end of message: any deciding verdict (quarantine and discard
// too); tags are never deciding.
const Policy* verdict_acting_at(const MessagePlan& plan, Stage stage);

// An early check the message already passed (at MAIL or an earlier RCPT):
// asked again only with a higher cost. The end-of-message charge stays
// authoritative, so a quota filled meanwhile by another session still
// refuses there.
struct PassedCheck {
    const Quota* quota = nullptr;
    std::string tracked_value;
    std::uint64_t cost = 0;
};
// Drops from `checks` those `passed` already covers.
void drop_passed(std::vector<const ApplicableQuota*>& checks, const std::vector<PassedCheck>& passed);
void remember_passed(std::vector<PassedCheck>& passed, const std::vector<const ApplicableQuota*>& checks);

// What the rules do at one stage, for the message as far as it is known
// there: a content rule that acts now (a refusal at MAIL, RCPT or end of
// headers; any deciding verdict at end of message), else at MAIL and RCPT
// the quotas the store is asked about (early_checks). The milter and
// `explain` both ask this, stage by stage.
struct StageDecision {
    MessagePlan plan;                               // plan_at_mail at MAIL, plan_message after
    const Policy* verdict = nullptr;
    std::vector<const ApplicableQuota*> checks;     // point into plan.quotas

    StageDecision() = default;
    StageDecision(StageDecision&&) = default;       // moving keeps `checks` valid; a copy would not
    StageDecision(const StageDecision&) = delete;
    StageDecision& operator=(const StageDecision&) = delete;
};
StageDecision decide_at(const RuleSet& rules, const MessageFacts& facts, Stage stage, PlanOptions options);

// What the loaded rules need of the MTA, per stage. The negotiation asks for
// no more (a stage no rule uses costs a round trip per message), and a stage
// that can only continue is asked "no reply".
struct StageNeeds {
    bool mail_may_refuse = false;       // a quota check or a content rule can refuse at MAIL FROM
    bool recipients = false;            // some rule depends on the recipients: RCPT TO must be seen
    bool rcpt_may_refuse = false;       // a quota check or a content rule can refuse at RCPT TO
    bool header_values = false;         // some rule reads a header (match.header, track header:NAME)
    bool end_of_headers = false;        // content rules are decided at end of headers
    bool body = false;                  // a bytes quota counts the message's size
    bool tagging = false;               // a tag verdict adds a header at end of message
};
StageNeeds stage_needs(const RuleSet& rules);

// Sets Policy::verdict_stage of every content rule: the loader calls it once
// the policies are in evaluation order.
void assign_verdict_stages(RuleSet& rules);

}  // namespace quotamilter::rules
