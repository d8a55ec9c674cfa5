//! The keys the attributes take, parsed with the span of each token, so a
//! mistake is a compile error pointing at it.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token};

/// A value as `tracing` takes one: an expression, or `%expr` / `?expr` for
/// its `Display` / `Debug` form.
pub(crate) struct Value {
    /// `%` or `?`, kept as written.
    pub(crate) sigil: Option<TokenStream>,
    pub(crate) expr: Expr,
}

impl Parse for Value {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let sigil = if input.peek(Token![%]) {
            let percent: Token![%] = input.parse()?;
            Some(quote::quote!(#percent))
        } else if input.peek(Token![?]) {
            let question: Token![?] = input.parse()?;
            Some(quote::quote!(#question))
        } else {
            None
        };
        Ok(Value {
            sigil,
            expr: input.parse()?,
        })
    }
}

/// One key of the attribute.
pub(crate) enum Arg {
    /// `key = value`.
    Keyed(Ident, Value),
    /// `skip(a, b)`.
    Skip(Ident, Vec<Ident>),
    /// `fields(...)`, handed to `instrument` as written.
    Fields(Ident, TokenStream),
    /// `skip_all`, `ret`.
    Flag(Ident),
}

impl Arg {
    pub(crate) fn key(&self) -> &Ident {
        match self {
            Arg::Keyed(key, _) | Arg::Skip(key, _) | Arg::Fields(key, _) | Arg::Flag(key) => key,
        }
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            return Ok(Arg::Keyed(key, input.parse()?));
        }
        if input.peek(syn::token::Paren) {
            let inner;
            syn::parenthesized!(inner in input);
            if key == "fields" {
                return Ok(Arg::Fields(key, inner.parse()?));
            }
            if key == "skip" {
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &inner,
                    syn::ext::IdentExt::parse_any,
                )?;
                return Ok(Arg::Skip(key, names.into_iter().collect()));
            }
            return Err(syn::Error::new(
                key.span(),
                format!("`{key}` takes no list; expected `skip(...)` or `fields(...)`"),
            ));
        }
        Ok(Arg::Flag(key))
    }
}

/// Every key given, in order.
pub(crate) struct Args(pub(crate) Vec<Arg>);

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let args = Punctuated::<Arg, Token![,]>::parse_terminated(input)?;
        Ok(Args(args.into_iter().collect()))
    }
}
