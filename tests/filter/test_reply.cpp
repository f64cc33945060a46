// Reply texts and codes as libmilter and Postfix accept them.
#include "filter/reply.h"

#include <doctest/doctest.h>

using namespace quotamilter::filter;
using quotamilter::rules::ReplySpec;
using quotamilter::rules::Verdict;
using namespace std::chrono_literals;

namespace {

ReplyValues sample_values() {
    ReplyValues values;
    values.policy = "user1_ratelimit";
    values.track = "sender";
    values.key = "user1@hudedu.net";
    values.unit = "messages";
    values.count = 50;
    values.limit = 50;
    values.window = 1800s;
    values.retry_after = 252000ms;
    return values;
}

}  // namespace

TEST_CASE("retry_after is human-readable and rounded up") {
    CHECK(format_retry_after(252000ms) == "4m12s");
    CHECK(format_retry_after(251001ms) == "4m12s");
    CHECK(format_retry_after(1ms) == "1s");
    CHECK(format_retry_after(0ms) == "1s");
    CHECK(format_retry_after(3600000ms) == "1h");
    CHECK(format_retry_after(90061000ms) == "1d1h1m1s");
    CHECK(format_retry_after(std::nullopt) == "never");
}

TEST_CASE("every placeholder is replaced; unknown braces stay") {
    ReplyValues values = sample_values();
    CHECK(expand_reply_template("{policy} {track} {key} {count} {limit} {window} {retry_after}", values) ==
          "user1_ratelimit sender user1@hudedu.net 50 50 30m 4m12s");
    CHECK(expand_reply_template("{nope} {policy", values) == "{nope} {policy");
    CHECK(expand_reply_template("", values).empty());
}

TEST_CASE("reply text: % doubled, CR/LF removed, at most 980 characters") {
    CHECK(sanitize_reply_text("100% used") == "100%% used");
    CHECK(sanitize_reply_text("line1\r\nline2\n") == "line1  line2");
    CHECK(sanitize_reply_text("  padded \r\n") == "padded");
    const std::string long_text(2000, 'x');
    CHECK(sanitize_reply_text(long_text).size() == kMaxReplyText);
    // A "%%" is never split at the limit.
    std::string percent_edge(kMaxReplyText - 1, 'a');
    percent_edge += "%";
    std::string cut = sanitize_reply_text(percent_edge);
    CHECK(cut.size() == kMaxReplyText - 1);
    CHECK(cut.back() == 'a');
    // Nor a UTF-8 character.
    std::string utf8_edge(kMaxReplyText - 1, 'a');
    utf8_edge += "\xC3\xA9";  // é
    CHECK(sanitize_reply_text(utf8_edge).size() == kMaxReplyText - 1);
}

TEST_CASE("default codes per verdict, overrides only when of the verdict's class") {
    ReplyValues values = sample_values();
    ReplySpec none;
    SmtpReply temp = make_reply(Verdict::tempfail, none, values);
    CHECK(temp.rcode == "451");
    CHECK(temp.xcode == "4.7.1");
    SmtpReply rej = make_reply(Verdict::reject, none, values);
    CHECK(rej.rcode == "550");
    CHECK(rej.xcode == "5.7.1");

    ReplySpec custom;
    custom.code = "554";
    custom.xcode = "5.7.0";
    SmtpReply ok = make_reply(Verdict::reject, custom, values);
    CHECK(ok.rcode == "554");
    CHECK(ok.xcode == "5.7.0");

    // A 5xx code with a tempfail verdict, or a 4.x.x with 550, would make
    // Postfix report a malformed reply: fall back to the verdict's defaults.
    ReplySpec mixed;
    mixed.code = "550";
    mixed.xcode = "5.7.1";
    SmtpReply fixed = make_reply(Verdict::tempfail, mixed, values);
    CHECK(fixed.rcode == "451");
    CHECK(fixed.xcode == "4.7.1");
    ReplySpec bad_xcode;
    bad_xcode.code = "550";
    bad_xcode.xcode = "4.7.1";
    SmtpReply half = make_reply(Verdict::reject, bad_xcode, values);
    CHECK(half.rcode == "550");
    CHECK(half.xcode == "5.7.1");
    ReplySpec garbage;
    garbage.code = "5x0";
    garbage.xcode = "5.7";
    SmtpReply g = make_reply(Verdict::reject, garbage, values);
    CHECK(g.rcode == "550");
    CHECK(g.xcode == "5.7.1");
    CHECK(make_reply(Verdict::reject, ReplySpec{.code = std::nullopt, .xcode = std::string("5.1.10"), .text = {}},
                     values)
              .xcode == "5.1.10");
}

TEST_CASE("configured text is expanded and sanitised; the default names the policy and the retry time") {
    ReplyValues values = sample_values();
    ReplySpec spec;
    spec.text = "Quota {policy}: 100% of {limit} per {window}\r\nretry in {retry_after}";
    CHECK(make_reply(Verdict::reject, spec, values).text ==
          "Quota user1_ratelimit: 100%% of 50 per 30m  retry in 4m12s");

    SmtpReply fallback = make_reply(Verdict::tempfail, {}, values);
    CHECK(fallback.text.find("user1_ratelimit") != std::string::npos);
    CHECK(fallback.text.find("4m12s") != std::string::npos);
    CHECK(fallback.text.find("50 messages per 30m") != std::string::npos);

    values.retry_after.reset();  // larger than the limit: never fits
    SmtpReply never = make_reply(Verdict::reject, {}, values);
    CHECK(never.text.find("user1_ratelimit") != std::string::npos);
    CHECK(never.text.find("exceeds") != std::string::npos);

    ReplySpec blank;
    blank.text = " \r\n ";
    CHECK(make_reply(Verdict::reject, blank, sample_values()).text.find("user1_ratelimit") != std::string::npos);
}
