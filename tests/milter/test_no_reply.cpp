// "No reply" headers and body (SMFIP_NR_HDR / SMFIP_NR_BODY): negotiated
// only for stages that are sent and only when offered; the session then
// answers no_reply at those stages, which the adapter maps to SMFIS_NOREPLY,
// and every refusal (and an internal error met there) is still answered, at
// end of headers or end of message.
#include "milter/answer_status.h"
#include "milter/negotiation.h"
#include "session_fixture.h"

#include <libmilter/mfapi.h>

#include <doctest/doctest.h>

using namespace quotamilter;
using filter::FilterAnswer;
using milter::Negotiation;
using Action = filter::FilterAnswer::Action;

namespace {

// What libmilter hands xxfi_negotiate behind Postfix 3.7: every SMFIP_NO*
// and every SMFIP_NR_* (libmilter adds the NR flags itself in any case).
constexpr std::uint64_t kAllActions = SMFIF_ADDHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_DELRCPT |
                                      SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR |
                                      SMFIF_SETSYMLIST;
constexpr std::uint64_t kAllNoReply = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_DATA |
                                      SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY;
constexpr std::uint64_t kAllSteps = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOBODY |
                                    SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_SKIP |
                                    SMFIP_RCPT_REJ | SMFIP_HDR_LEADSPC | kAllNoReply;
// The stages that may refuse: never "no reply".
constexpr std::uint64_t kAnsweredStages =
    SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH;

const char* kBytesRules = R"json({"version": 1, "policies": [
  {"name": "volume", "match": {"sender": ["@hudedu.net"]},
   "quotas": [{"track": "sender", "bytes": 1000, "window": "1h", "verdict": "reject"}]}]})json";

const char* kBytesAndHeaderRules = R"json({"version": 1, "policies": [
  {"name": "no_forged_from", "priority": 10, "match": {"sender": ["!@hudedu.net"],
     "header": [{"name": "From", "regex": "@hudedu\\.net>?$"}]}, "verdict": "reject"},
  {"name": "volume", "priority": 20, "match": {"sender": ["@hudedu.net"]},
   "quotas": [{"track": "sender", "bytes": 1000, "window": "1h", "verdict": "reject"}]}]})json";

// Headers, end of headers and body sent, headers and body answered "no reply".
filter::NegotiatedStages no_reply_content() {
    filter::NegotiatedStages stages;
    stages.no_reply_header = stages.no_reply_body = true;
    return stages;
}

}  // namespace

TEST_CASE("no reply: headers and body of a bytes quota, when offered; never MAIL/RCPT/DATA/EOH/EOM") {
    const Negotiation n = milter::negotiate(kAllActions, kAllSteps, true, false);
    CHECK((n.steps & SMFIP_NR_HDR) != 0);
    CHECK((n.steps & SMFIP_NR_BODY) != 0);
    CHECK(n.header_no_reply);
    CHECK(n.body_no_reply);
    CHECK((n.steps & kAnsweredStages) == 0);
    CHECK((n.steps & (SMFIP_NOHDRS | SMFIP_NOBODY | SMFIP_NODATA)) == 0);
    CHECK((n.steps & SMFIP_NOEOH) != 0);  // bytes alone: end of headers still skipped, as before
}

TEST_CASE("no reply: not offered, not asked") {
    const Negotiation n = milter::negotiate(kAllActions, kAllSteps & ~(SMFIP_NR_HDR | SMFIP_NR_BODY), true, true);
    CHECK((n.steps & kAllNoReply) == 0);
    CHECK_FALSE(n.header_no_reply);
    CHECK_FALSE(n.body_no_reply);
    // One offered, the other not.
    const Negotiation body_only = milter::negotiate(kAllActions, kAllSteps & ~SMFIP_NR_HDR, true, false);
    CHECK((body_only.steps & kAllNoReply) == SMFIP_NR_BODY);
    CHECK_FALSE(body_only.header_no_reply);
    CHECK(body_only.body_no_reply);
}

TEST_CASE("no reply: only for stages that are sent; end of headers stays answered") {
    // Neither bytes nor header rules: headers and body skipped, so no NR flag.
    const Negotiation plain = milter::negotiate(kAllActions, kAllSteps, false, false);
    CHECK((plain.steps & kAllNoReply) == 0);
    CHECK_FALSE(plain.header_no_reply);
    CHECK_FALSE(plain.body_no_reply);
    // Header rules: headers "no reply", end of headers answered (it may refuse), no body.
    const Negotiation headers = milter::negotiate(kAllActions, kAllSteps, false, true, true);
    CHECK((headers.steps & kAllNoReply) == SMFIP_NR_HDR);
    CHECK((headers.steps & (SMFIP_NOHDRS | SMFIP_NOEOH)) == 0);
    CHECK((headers.steps & SMFIP_NOBODY) != 0);
    // An MTA that cannot skip the body sends it: no reply to it either.
    const Negotiation forced_body = milter::negotiate(kAllActions, kAllSteps & ~SMFIP_NOBODY, false, false);
    CHECK(forced_body.body);
    CHECK((forced_body.steps & kAllNoReply) == SMFIP_NR_BODY);
    // Every combination: never on the stages that may refuse.
    for (int bits = 0; bits < 8; ++bits) {
        const Negotiation n = milter::negotiate(kAllActions, kAllSteps, bits & 1, bits & 2, bits & 4);
        CAPTURE(bits);
        CHECK((n.steps & kAnsweredStages) == 0);
        CHECK(n.header_no_reply == ((n.steps & SMFIP_NR_HDR) != 0));
        CHECK(n.body_no_reply == ((n.steps & SMFIP_NR_BODY) != 0));
    }
}

TEST_CASE("no reply: a tag on the sender alone needs neither headers nor end of headers, only add-header") {
    auto rules = test::rules_from(R"json({"version": 1, "policies": [{"name": "partner", "verdict": "tag",
        "match": {"sender": ["@partner.example"]}}]})json");
    const Negotiation n =
        milter::negotiate(kAllActions, kAllSteps, rules->needs_body(), rules->needs_headers(), rules->needs_tagging());
    CHECK((n.steps & (SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY)) == (SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY));
    CHECK((n.actions & SMFIF_ADDHDRS) != 0);
    CHECK((n.steps & kAllNoReply) == 0);
}

TEST_CASE("answer status: what the adapter returns to libmilter for each answer") {
    FilterAnswer answer;
    CHECK(milter::answer_status(answer) == SMFIS_CONTINUE);
    answer.action = Action::accept;
    CHECK(milter::answer_status(answer) == SMFIS_ACCEPT);
    answer.action = Action::reject;
    CHECK(milter::answer_status(answer) == SMFIS_REJECT);
    answer.action = Action::tempfail;
    CHECK(milter::answer_status(answer) == SMFIS_TEMPFAIL);
    answer.action = Action::discard;
    CHECK(milter::answer_status(answer) == SMFIS_DISCARD);
    answer.action = Action::quarantine;
    CHECK(milter::answer_status(answer) == SMFIS_CONTINUE);
    CHECK(milter::answer_status(FilterAnswer::no_reply()) == SMFIS_NOREPLY);
}

TEST_CASE("no reply: the session answers SMFIS_NOREPLY exactly at the stages negotiated so") {
    // The protocol invariant: a header / body callback returns SMFIS_NOREPLY
    // if and only if its NR flag went to the MTA (else libmilter drops the
    // answer, or the MTA waits for one that never comes).
    test::FilterFixture f(kBytesAndHeaderRules);
    for (std::uint64_t offered : {kAllSteps, kAllSteps & ~SMFIP_NR_HDR, kAllSteps & ~SMFIP_NR_BODY,
                                  kAllSteps & ~(SMFIP_NR_HDR | SMFIP_NR_BODY)}) {
        for (int needs = 0; needs < 4; ++needs) {
            CAPTURE(offered);
            CAPTURE(needs);
            const Negotiation n = milter::negotiate(kAllActions, offered, needs & 1, needs & 2);
            filter::Session session(f.environment, n.stages);
            session.on_connect(std::string("192.0.2.7"), 40000);
            // Before any message, in a message, after a refused MAIL: the same.
            auto header = [&] { return milter::answer_status(session.on_header("Subject", "x")); };
            auto body = [&] { return milter::answer_status(session.on_body(10)); };
            const sfsistat expected_header = (n.steps & SMFIP_NR_HDR) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
            const sfsistat expected_body = (n.steps & SMFIP_NR_BODY) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
            CHECK(header() == expected_header);
            CHECK(body() == expected_body);
            session.on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt);
            session.on_rcpt("<x@ext.example>", std::nullopt);
            session.on_data(std::nullopt);
            CHECK(header() == expected_header);
            CHECK(body() == expected_body);
            CHECK(milter::answer_status(session.on_eom(std::nullopt)) == SMFIS_CONTINUE);
        }
    }
}

TEST_CASE("no reply: header rules still refuse at end of headers, byte quotas at end of message") {
    test::FilterFixture f(kBytesAndHeaderRules);
    const Negotiation n = milter::negotiate(kAllActions, kAllSteps, true, true);
    REQUIRE(n.header_no_reply);
    REQUIRE(n.body_no_reply);
    filter::Session session(f.environment, n.stages);
    session.on_connect(std::string("192.0.2.7"), 40000);

    // A forged From: decided at end of headers.
    REQUIRE(session.on_mail("<spoof@outside.example>", {}, std::nullopt, std::nullopt).action == Action::continue_);
    REQUIRE(session.on_rcpt("<x@ext.example>", std::nullopt).action == Action::continue_);
    session.on_data(std::nullopt);
    CHECK(session.on_header("From", "<boss@hudedu.net>").action == Action::no_reply);
    const FilterAnswer eoh = session.on_eoh();
    CHECK(eoh.action == Action::reject);
    CHECK(milter::answer_status(eoh) == SMFIS_REJECT);
    CHECK_FALSE(session.in_message());

    // Bytes counted from no-reply headers and body: 1000 allowed. "Subject: x\r\n" = 12, + 2, + 900.
    auto send = [&](std::size_t body) {
        REQUIRE(session.on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt).action == Action::continue_);
        REQUIRE(session.on_rcpt("<x@ext.example>", std::nullopt).action == Action::continue_);
        session.on_data(std::nullopt);
        CHECK(session.on_header("Subject", "x").action == Action::no_reply);
        CHECK(session.on_eoh().action == Action::continue_);
        CHECK(session.on_body(body).action == Action::no_reply);
        return session.on_eom(std::nullopt);
    };
    CHECK(send(900).action == Action::continue_);
    CHECK(f.scripted.count("volume", "bytes", "a@hudedu.net") == 914);
    const FilterAnswer over = send(100);  // 914 + 114 > 1000
    CHECK(over.action == Action::reject);
    CHECK(milter::answer_status(over) == SMFIS_REJECT);
    CHECK(f.scripted.count("volume", "bytes", "a@hudedu.net") == 914);
}

TEST_CASE("no reply: an internal error in a header or body callback is answered at the next answered stage") {
    SUBCASE("header rules: at end of headers, tempfail, nothing charged") {
        test::FilterFixture f(kBytesAndHeaderRules);
        filter::Session session(f.environment, no_reply_content());
        session.on_connect(std::string("192.0.2.7"), 40000);
        session.on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt);
        session.on_rcpt("<x@ext.example>", std::nullopt);
        session.on_data(std::nullopt);
        session.on_header("Subject", "x");
        session.defer_internal_error();  // what the adapter does when on_header throws
        CHECK(session.on_header("To", "y").action == Action::no_reply);
        const FilterAnswer eoh = session.on_eoh();
        CHECK(eoh.action == Action::tempfail);
        CHECK(eoh.rcode == "451");
        CHECK(milter::answer_status(eoh) == SMFIS_TEMPFAIL);
        CHECK_FALSE(session.in_message());
        CHECK(f.scripted.calls_of("charge") == 0);
        CHECK(f.logger.count_containing("internal error in a stage that answers nothing, answered at END-OF-HEADERS: tempfail") == 1);
        // The next message is unaffected.
        CHECK(test::send_message(session, "a@hudedu.net", {"x@ext.example"}).eom.action == Action::continue_);
    }
    SUBCASE("bytes only (end of headers not negotiated): at end of message") {
        test::FilterFixture f(kBytesRules);
        filter::Session session(f.environment, no_reply_content());
        session.on_connect(std::string("192.0.2.7"), 40000);
        session.on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt);
        session.on_rcpt("<x@ext.example>", std::nullopt);
        session.on_data(std::nullopt);
        CHECK(session.on_body(100).action == Action::no_reply);
        session.defer_internal_error();
        const FilterAnswer eom = session.on_eom(std::nullopt);
        CHECK(eom.action == Action::tempfail);
        CHECK(f.scripted.calls_of("charge") == 0);
    }
    SUBCASE("on_store_error accept: the message goes through uncounted") {
        filter::FilterSettings settings;
        settings.on_store_error = filter::OnStoreError::accept;
        test::FilterFixture f(kBytesRules, settings);
        filter::Session session(f.environment, no_reply_content());
        session.on_connect(std::string("192.0.2.7"), 40000);
        session.on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt);
        session.on_rcpt("<x@ext.example>", std::nullopt);
        session.defer_internal_error();
        CHECK(session.on_eom(std::nullopt).action == Action::accept);
        CHECK(f.scripted.calls_of("charge") == 0);
    }
    SUBCASE("non-SMTP mail: at end of message, never at end of headers") {
        filter::FilterSettings settings;
        settings.non_smtp = filter::NonSmtpDetection::always;
        test::FilterFixture f(kBytesAndHeaderRules, settings);
        filter::Session session(f.environment, no_reply_content());
        session.on_connect(std::string("127.0.0.1"), 0);
        session.on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt);
        session.on_rcpt("<x@ext.example>", std::nullopt);
        session.defer_internal_error();
        CHECK(session.on_eoh().action == Action::continue_);
        CHECK(session.on_eom(std::nullopt).action == Action::tempfail);
    }
    SUBCASE("outside a message: nothing to answer") {
        test::FilterFixture f(kBytesRules);
        filter::Session session(f.environment, no_reply_content());
        session.on_connect(std::string("192.0.2.7"), 40000);
        session.defer_internal_error();
        CHECK(test::send_message(session, "a@hudedu.net", {"x@ext.example"}).eom.action == Action::continue_);
    }
}
