"""hỏi đáp — cited question answering over Vietnamese and English documents.

The pipeline, one module a stage: documents → passages → embeddings → index → retrieval → answer (a package).
This module is the public API; the CLI (`qa.cli.app`) and the chat (`ui`) use nothing else.

`Engine` is for long-running front ends (the chat, its HTTP API): one per process, it owns the loaded assistant,
serves concurrent requests from it, and swaps in a rebuilt index without a restart or a lost setting. A one-shot
caller (a CLI command) can use `Assistant` directly.
"""

from qa.answer import (Answer, AnswerCitation, AnswerEvent, Answerer, AnswerSettings, Assistant, ExtractiveAnswerer,
                       LLMAnswerer, LLMError, LLMFallbackWarning, LLMSettings, LocalLLM, contextualize, final_answer,
                       is_follow_up)
from qa.documents.corpus import MAX_DOCUMENT_BYTES, DocumentInfo, add_documents, example_questions, list_documents, remove_document
from qa.embedding.default_model import DEFAULT_MODEL, prepare_default_model
from qa.documents.reading import SkippedDocumentWarning, read_documents, seed_files
from qa.documents.formats import LimitExceededError, ParseLimits, UnreadableDocumentError
from qa.embedding.embeddings import Embedder
from qa.engine import Engine
from qa.indexing.background import BackgroundIndexer, IndexingStatus
from qa.errors import (DocumentRejectedError, IndexBusyError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, IndexWriteError,
                       InvalidArgumentError, InvalidQuestionError, ModelNotAvailableError, QAError, SeedsNotFoundError,
                       SeedUnreadableError, QuantizationUnsupportedError)
from qa.indexing.index import BuildReport, IndexStatus, build_index, current_version, index_status
from qa.store.base import Index
from qa.store.local.store import IndexStore, Manifest
from qa.store.location import parse_index
from qa.language import detect_language
from qa.documents.passages import ChunkingSettings, split_document, split_documents
from qa.records import Citation, Document, Hit, Passage, Scores, SearchResult, Sentence
from qa.retrieval.retriever import MAX_QUESTION_CHARS, RetrievalSettings, Retriever, validate_question

__all__ = [
    "Answer", "AnswerCitation", "AnswerEvent", "Answerer", "AnswerSettings", "Assistant", "ExtractiveAnswerer",
    "LLMAnswerer", "LLMError", "LLMFallbackWarning", "LLMSettings", "LocalLLM", "contextualize", "final_answer", "is_follow_up",
    "MAX_DOCUMENT_BYTES", "DocumentInfo", "add_documents", "example_questions", "list_documents", "BackgroundIndexer", "IndexingStatus", "remove_document", "DocumentRejectedError",
    "DEFAULT_MODEL", "prepare_default_model", "SkippedDocumentWarning", "read_documents", "seed_files", "Embedder", "Engine",
    "LimitExceededError", "ParseLimits", "UnreadableDocumentError",
    "IndexBusyError", "IndexCorruptError", "IndexMismatchError", "IndexNotFoundError", "IndexWriteError",
    "InvalidArgumentError", "InvalidQuestionError", "ModelNotAvailableError", "QAError", "SeedsNotFoundError",
    "SeedUnreadableError", "QuantizationUnsupportedError", "BuildReport", "IndexStatus", "Index", "IndexStore", "Manifest", "build_index", "current_version", "parse_index",
    "index_status", "detect_language", "ChunkingSettings", "split_document",
    "split_documents", "Citation", "Document", "Hit", "Passage", "Scores", "SearchResult", "Sentence",
    "MAX_QUESTION_CHARS", "RetrievalSettings", "Retriever", "validate_question",
]
