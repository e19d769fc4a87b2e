//! Binary data (`data_base64`, or a binary-mode body under a media type that
//! is neither JSON nor text) between the wire and a payload type, kept as
//! bytes both ways: never spread into a JSON array of numbers, which costs
//! some thirty times the data's size in memory and four times in storage.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::ser::{self, Impossible, Serialize, Serializer};

/// Binary data offered to a payload type: as bytes to a type that asks for
/// them (`serde_bytes::ByteBuf`, `bytes::Bytes`), as a sequence to a type
/// that reads one (`Vec<u8>`, `[u8; N]`), as its base64 text to a type that
/// takes whatever comes (`serde_json::Value`, and so an untagged enum with a
/// string variant), and to any other type not at all: a derived struct or a
/// `String` refuses it, naming the byte array it was offered.
pub(super) struct ByteData(pub(super) Vec<u8>);

/// Refuses binary data for a payload type that asks for something else.
macro_rules! refuse_bytes {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, $(_: $arg,)* visitor: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::invalid_type(Unexpected::Bytes(&self.0), &visitor))
            }
        )*
    };
}

impl<'de> Deserializer<'de> for ByteData {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_string(BASE64.encode(&self.0))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_byte_buf(self.0)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_byte_buf(self.0)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_seq(de::value::SeqDeserializer::new(self.0.into_iter()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    refuse_bytes! {
        deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(),
        deserialize_i64(), deserialize_i128(), deserialize_u8(), deserialize_u16(),
        deserialize_u32(), deserialize_u64(), deserialize_u128(), deserialize_f32(),
        deserialize_f64(), deserialize_char(), deserialize_str(), deserialize_string(),
        deserialize_unit(), deserialize_unit_struct(&'static str), deserialize_map(),
        deserialize_tuple_struct(&'static str, usize),
        deserialize_struct(&'static str, &'static [&'static str]),
        deserialize_enum(&'static str, &'static [&'static str]),
        deserialize_identifier(),
    }
}

/// The bytes of a binary payload: bytes, a sequence of integers from 0 to
/// 255 (a `Vec<u8>`), or base64 text (what binary data reads as into a
/// `serde_json::Value`). Memory is the data's size, whichever it is.
pub(super) fn payload_bytes<P: Serialize>(payload: &P) -> Result<Vec<u8>, String> {
    payload
        .serialize(PayloadBytes)
        .map_err(|NotBytes(reason)| reason)
}

/// Why a payload is not binary data.
#[derive(Debug)]
struct NotBytes(String);

impl NotBytes {
    fn what() -> Self {
        NotBytes(
            "a binary payload must serialize to bytes (a Vec<u8>, say) or to base64 text".into(),
        )
    }
}

impl fmt::Display for NotBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotBytes {}

impl ser::Error for NotBytes {
    fn custom<T: fmt::Display>(message: T) -> Self {
        NotBytes(message.to_string())
    }
}

/// Serializes a payload into the bytes it stands for.
struct PayloadBytes;

/// The items of a sequence payload, one byte each.
struct ByteSequence(Vec<u8>);

/// Serializes one item of a sequence payload: an integer from 0 to 255.
struct OneByte;

/// Refuses every other kind of value, for [`PayloadBytes`] and [`OneByte`].
macro_rules! not_bytes {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(
            fn $method(self, $(_: $arg),*) -> Result<Self::Ok, NotBytes> {
                Err(NotBytes::what())
            }
        )*
    };
}

/// The compound kinds neither serializer takes.
macro_rules! no_compounds {
    () => {
        type SerializeTupleStruct = Impossible<Self::Ok, NotBytes>;
        type SerializeTupleVariant = Impossible<Self::Ok, NotBytes>;
        type SerializeMap = Impossible<Self::Ok, NotBytes>;
        type SerializeStruct = Impossible<Self::Ok, NotBytes>;
        type SerializeStructVariant = Impossible<Self::Ok, NotBytes>;

        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, NotBytes> {
            Err(NotBytes::what())
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, NotBytes> {
            Err(NotBytes::what())
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotBytes> {
            Err(NotBytes::what())
        }
        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, NotBytes> {
            Err(NotBytes::what())
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, NotBytes> {
            Err(NotBytes::what())
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Self::Ok, NotBytes> {
            Err(NotBytes::what())
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<Self::Ok, NotBytes> {
            Err(NotBytes::what())
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<Self::Ok, NotBytes> {
            Err(NotBytes::what())
        }
    };
}

impl Serializer for PayloadBytes {
    type Ok = Vec<u8>;
    type Error = NotBytes;
    type SerializeSeq = ByteSequence;
    type SerializeTuple = ByteSequence;
    no_compounds!();

    fn serialize_tuple(self, len: usize) -> Result<ByteSequence, NotBytes> {
        Ok(ByteSequence(Vec::with_capacity(len)))
    }

    fn serialize_bytes(self, bytes: &[u8]) -> Result<Vec<u8>, NotBytes> {
        Ok(bytes.to_vec())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<ByteSequence, NotBytes> {
        Ok(ByteSequence(Vec::with_capacity(len.unwrap_or(0))))
    }

    fn serialize_str(self, text: &str) -> Result<Vec<u8>, NotBytes> {
        BASE64.decode(text).map_err(|error| {
            NotBytes(format!(
                "a binary payload held as text must be base64: {error}"
            ))
        })
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, NotBytes> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Vec<u8>, NotBytes> {
        value.serialize(self)
    }

    not_bytes! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_none(), serialize_unit(),
    }
}

impl ser::SerializeSeq for ByteSequence {
    type Ok = Vec<u8>;
    type Error = NotBytes;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, item: &T) -> Result<(), NotBytes> {
        self.0.push(item.serialize(OneByte)?);
        Ok(())
    }

    fn end(self) -> Result<Vec<u8>, NotBytes> {
        Ok(self.0)
    }
}

impl ser::SerializeTuple for ByteSequence {
    type Ok = Vec<u8>;
    type Error = NotBytes;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, item: &T) -> Result<(), NotBytes> {
        ser::SerializeSeq::serialize_element(self, item)
    }

    fn end(self) -> Result<Vec<u8>, NotBytes> {
        Ok(self.0)
    }
}

impl OneByte {
    fn of<T: TryInto<u8>>(value: T) -> Result<u8, NotBytes> {
        value.try_into().map_err(|_| NotBytes::what())
    }
}

impl Serializer for OneByte {
    type Ok = u8;
    type Error = NotBytes;
    type SerializeSeq = Impossible<u8, NotBytes>;
    type SerializeTuple = Impossible<u8, NotBytes>;
    no_compounds!();

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotBytes> {
        Err(NotBytes::what())
    }

    fn serialize_u8(self, byte: u8) -> Result<u8, NotBytes> {
        Ok(byte)
    }
    fn serialize_u16(self, value: u16) -> Result<u8, NotBytes> {
        OneByte::of(value)
    }
    fn serialize_u32(self, value: u32) -> Result<u8, NotBytes> {
        OneByte::of(value)
    }
    fn serialize_u64(self, value: u64) -> Result<u8, NotBytes> {
        OneByte::of(value)
    }
    fn serialize_i8(self, value: i8) -> Result<u8, NotBytes> {
        OneByte::of(value)
    }
    fn serialize_i16(self, value: i16) -> Result<u8, NotBytes> {
        OneByte::of(value)
    }
    fn serialize_i32(self, value: i32) -> Result<u8, NotBytes> {
        OneByte::of(value)
    }
    fn serialize_i64(self, value: i64) -> Result<u8, NotBytes> {
        OneByte::of(value)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotBytes> {
        Err(NotBytes::what())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<u8, NotBytes> {
        Err(NotBytes::what())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<u8, NotBytes> {
        value.serialize(self)
    }

    not_bytes! {
        serialize_bool(bool), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_str(&str), serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
    }
}
