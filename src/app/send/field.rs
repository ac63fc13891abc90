//! The fields of a send, named by what they hold rather than where a request carries them. Which
//! field of which form was at fault is the use case's to say; where that field is in a request
//! (`payload.blob`, `message`) is the HTTP adapter's.

use crate::{app::FieldName, domain::FormKind};

/// A field of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendField {
    /// The client the notification is for.
    ClientId,
    Classic(ClassicField),
    Raw(RawField),
}

/// A field of the classic form (`{id, payload: {topic, flags, blob}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassicField {
    Id,
    Topic,
    Flags,
    Blob,
}

/// A field of the raw form (`{topic, tag, message}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RawField {
    Topic,
    Tag,
    Message,
}

impl SendField {
    /// The field whose content a provider is given for `form`: a payload the provider refuses is
    /// reported under it.
    pub fn content_of(form: FormKind) -> Self {
        match form {
            FormKind::Classic => Self::Classic(ClassicField::Blob),
            FormKind::Raw => Self::Raw(RawField::Message),
        }
    }
}

impl FieldName for SendField {
    fn name(self) -> &'static str {
        match self {
            SendField::ClientId => "client_id",
            SendField::Classic(ClassicField::Id) => "id",
            SendField::Classic(ClassicField::Topic) | SendField::Raw(RawField::Topic) => "topic",
            SendField::Classic(ClassicField::Flags) => "flags",
            SendField::Classic(ClassicField::Blob) => "blob",
            SendField::Raw(RawField::Tag) => "tag",
            SendField::Raw(RawField::Message) => "message",
        }
    }
}
