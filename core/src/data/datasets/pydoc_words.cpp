// dataset = pydoc_words: the Python documentation sources of `default` (python3.11-doc),
// as words, for word-level work (perplexity by word frequency) without a download.
#include <algorithm>
#include <string>
#include <vector>

#include "data/corpus_io.h"
#include "data/dataset.h"
#include "data/datasets/python_docs.h"
#include "util/error.h"

namespace ctlab {
namespace {

// Training-split count below which a word becomes <unk>, as in WikiText-103.
constexpr int64_t kPydocMinCount = 3;

bool pydoc_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}
bool pydoc_punct_byte(unsigned char c) { return c > ' ' && c < 0x7f && !pydoc_word_byte(c); }

// A line is markup only when it holds no word byte: section adornments ("====="), table
// borders ("+----+"), a lone "::". Such lines are dropped.
bool pydoc_markup_only(const std::string& line) {
  for (unsigned char c : line)
    if (pydoc_word_byte(c)) return false;
  return true;
}

// Appends the tokens of one line: words are maximal runs of word bytes (ASCII letters,
// digits, '_' and every byte >= 0x80, so UTF-8 characters stay inside words); punctuation
// is maximal runs of one repeated ASCII punctuation character ("``", "::", "(", ")", "...").
// Everything else (spaces, tabs, control bytes) only separates. Case is kept.
void pydoc_tokens(const std::string& line, std::vector<std::string>& out) {
  size_t i = 0;
  while (i < line.size()) {
    const auto c = static_cast<unsigned char>(line[i]);
    size_t j = i + 1;
    if (pydoc_word_byte(c))
      while (j < line.size() && pydoc_word_byte(static_cast<unsigned char>(line[j]))) ++j;
    else if (pydoc_punct_byte(c))
      while (j < line.size() && line[j] == line[i]) ++j;
    else {
      i = j;
      continue;
    }
    out.push_back(line.substr(i, j - i));
    i = j;
  }
}

// The paragraphs of text[begin, end) as token lines (word_corpus ends each with <eos>): a
// paragraph is a run of lines that are not blank (whitespace only); markup-only lines are
// dropped without ending it.
std::vector<std::vector<std::string>> pydoc_paragraphs(const std::string& text, size_t begin, size_t end) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> para;
  auto close = [&] {
    if (!para.empty()) out.push_back(std::move(para));
    para.clear();
  };
  for (size_t pos = begin; pos < end;) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos || nl > end) nl = end;
    const std::string line = text.substr(pos, nl - pos);
    if (line.find_first_not_of(" \t\r\f\v") == std::string::npos)
      close();
    else if (!pydoc_markup_only(line))
      pydoc_tokens(line, para);
    pos = nl + 1;
  }
  close();
  return out;
}

// The first line start at or after byte `pos` (the text's size when there is none): cuts
// fall between lines.
size_t pydoc_next_line(const std::string& text, size_t pos) {
  if (pos == 0 || pos >= text.size()) return pos;
  const size_t nl = text.find('\n', pos - 1);
  return nl == std::string::npos ? text.size() : nl + 1;
}

// The splits are `default`'s (the `split` fractions of the bytes), each cut moved forward
// to the start of the next line, so the word splits hold the text of the byte splits.
Corpus pydoc_words_corpus(const DataOptions& o) {
  const PythonDocs docs = python_docs(o, "pydoc_words");
  const std::string text = docs.text();
  const auto sizes = split_sizes("pydoc_words", docs.source(), text.size(), o.split);
  const size_t cut1 = pydoc_next_line(text, sizes[0]);
  const size_t cut2 = std::max(cut1, pydoc_next_line(text, sizes[0] + sizes[1]));
  WordSplits w;
  w.lines[0] = pydoc_paragraphs(text, 0, cut1);
  w.lines[1] = pydoc_paragraphs(text, cut1, cut2);
  w.lines[2] = pydoc_paragraphs(text, cut2, text.size());
  if (w.lines[0].empty())
    throw Error("pydoc_words data '" + docs.source() + "' holds no words in its training split");
  return word_corpus("pydoc_words", docs.source(), w, kPydocMinCount);
}

}  // namespace

DatasetDef pydoc_words_dataset() {
  return {"pydoc_words",
          "the Python documentation sources of `default` as words (about 2.4M tokens), split as `default`",
          true, pydoc_words_corpus};
}

}  // namespace ctlab
