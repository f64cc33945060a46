// Drives the filter core like an MTA would, without one.
#pragma once

#include "filter/rules_holder.h"
#include "filter/session.h"
#include "rules/load.h"
#include "test_doubles.h"

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace quotamilter::test {

inline std::shared_ptr<const rules::RuleSet> rules_from(const std::string& json) {
    rules::LoadResult loaded = rules::load_rules_text(json, "test.json");
    if (auto* errors = std::get_if<std::vector<rules::Diagnostic>>(&loaded)) {
        std::string all;
        for (const auto& e : *errors) all += e.str() + "\n";
        throw std::runtime_error("test rules do not load:\n" + all);
    }
    return std::make_shared<const rules::RuleSet>(std::move(std::get<rules::RuleSet>(loaded)));
}

// Headers and end of headers always come; the body only when `body`.
inline filter::NegotiatedStages body_stages(bool body) {
    filter::NegotiatedStages stages;
    stages.body = body;
    return stages;
}

// One environment: rules, a store (scripted unless one is given), a logger.
struct FilterFixture {
    explicit FilterFixture(const std::string& rules_json, filter::FilterSettings settings = {},
                           store::QuotaStore* other_store = nullptr)
        : holder(rules_from(rules_json)),
          environment(holder, other_store ? *other_store : scripted, logger, settings) {}

    std::unique_ptr<filter::Session> connect(const std::string& ip = "192.0.2.7", std::uint16_t port = 40000,
                                             bool body = false) {
        auto session = std::make_unique<filter::Session>(environment, body_stages(body));
        session->on_connect(ip, port);
        return session;
    }

    ScriptedStore scripted;
    CapturingLogger logger;
    filter::RulesHolder holder;
    filter::FilterEnvironment environment;
};

// `eom` holds a sentinel until end of message is reached, so that a check of
// its action can never pass by default.
inline filter::FilterAnswer not_reached() {
    filter::FilterAnswer answer;
    answer.action = filter::FilterAnswer::Action::tempfail;
    answer.text = "end of message not reached";
    return answer;
}

struct Transaction {
    filter::FilterAnswer mail;
    std::vector<filter::FilterAnswer> rcpts;
    filter::FilterAnswer eom = not_reached();
    bool reached_eom = false;
};

// MAIL, every RCPT, then (if MAIL passed and some RCPT was accepted) end of
// message, the way Postfix proceeds.
inline Transaction send_message(filter::Session& session, const std::string& from,
                                const std::vector<std::string>& recipients,
                                const std::vector<std::string>& params = {},
                                const std::optional<std::string>& sasl = std::nullopt) {
    Transaction t;
    t.mail = session.on_mail("<" + from + ">", params, sasl, std::nullopt);
    if (t.mail.action != filter::FilterAnswer::Action::continue_) return t;
    bool any = false;
    for (const auto& rcpt : recipients) {
        t.rcpts.push_back(session.on_rcpt("<" + rcpt + ">", std::nullopt));
        any = any || t.rcpts.back().action == filter::FilterAnswer::Action::continue_;
    }
    if (!any) {
        session.on_abort();
        return t;
    }
    session.on_data(std::string("QID1"));
    t.eom = session.on_eom(std::string("QID1"));
    t.reached_eom = true;
    return t;
}

}  // namespace quotamilter::test
