//! Payment addresses: a fresh native SegWit (P2WPKH) address per invoice, derived from the
//! practice's watch-only BIP84 account key (`m/84'/0'/0'` exported as `zpub` or `xpub`; `vpub`
//! or `tpub` off mainnet) along the receive chain, `<account>/0/<index>`; and the BIP21 URI
//! that carries it. The bot never holds a private key.

use std::fmt;

/// The bitcoin network an account is for.
pub use bitcoin::Network;
use bitcoin::bip32::{ChildNumber, Xpub};
use bitcoin::secp256k1::{Secp256k1, VerifyOnly};
use bitcoin::{Address, Amount, Denomination, NetworkKind};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::BillingError;

/// SLIP-132 version bytes: BIP84 `zpub`/`vpub` are BIP32 `xpub`/`tpub` with other bytes.
const XPUB: [u8; 4] = [0x04, 0x88, 0xb2, 0x1e];
const TPUB: [u8; 4] = [0x04, 0x35, 0x87, 0xcf];
const ZPUB: [u8; 4] = [0x04, 0xb2, 0x47, 0x46];
const VPUB: [u8; 4] = [0x04, 0x5f, 0x1c, 0xf6];

/// A watch-only BIP84 account.
#[derive(Clone)]
pub struct Account {
    xpub: Xpub,
    network: Network,
    secp: Secp256k1<VerifyOnly>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The account key is not secret, but it links every payment: print its fingerprint.
        f.debug_struct("Account")
            .field("fingerprint", &self.xpub.fingerprint().to_string())
            .field("network", &self.network)
            .finish()
    }
}

fn bad(message: &str) -> BillingError {
    BillingError::Config(format!("bitcoin.account_key: {message}"))
}

impl Account {
    /// Parse an account key (`zpub`, `xpub`, `vpub` or `tpub`) for `network`.
    pub fn parse(text: &str, network: Network) -> Result<Self, BillingError> {
        let mut data = bitcoin::base58::decode_check(text.trim())
            .map_err(|_| bad("not a base58check extended public key"))?;
        let version: [u8; 4] = data
            .get(..4)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("too short"))?;
        let bip32 = match version {
            XPUB | ZPUB => XPUB,
            TPUB | VPUB => TPUB,
            _ => {
                return Err(bad(
                    "not an xpub, zpub, tpub or vpub (private keys are refused)",
                ));
            }
        };
        if let Some(head) = data.get_mut(..4) {
            head.copy_from_slice(&bip32);
        }
        let xpub = Xpub::decode(&data).map_err(|_| bad("not a valid extended public key"))?;
        if xpub.network != NetworkKind::from(network) {
            return Err(bad("the key is for another network"));
        }
        if xpub.depth != 3 {
            return Err(bad(
                "expected an account key (depth 3, m/84'/coin'/account')",
            ));
        }
        Ok(Self {
            xpub,
            network,
            secp: Secp256k1::verification_only(),
        })
    }

    /// The address at `chain` (0 receive, 1 change) and `index`.
    pub fn address(&self, chain: u32, index: u32) -> Result<Address, BillingError> {
        let path = [
            ChildNumber::from_normal_idx(chain)
                .map_err(|e| BillingError::Address(e.to_string()))?,
            ChildNumber::from_normal_idx(index)
                .map_err(|e| BillingError::Address(e.to_string()))?,
        ];
        let child = self
            .xpub
            .derive_pub(&self.secp, &path)
            .map_err(|e| BillingError::Address(e.to_string()))?;
        Ok(Address::p2wpkh(&child.to_pub(), self.network))
    }

    /// The receive address at `index`.
    pub fn receive_address(&self, index: u32) -> Result<Address, BillingError> {
        self.address(0, index)
    }
}

/// A BIP21 URI: `bitcoin:<address>?amount=<BTC>&label=<label>`.
pub fn bip21(address: &str, sats: u64, label: &str) -> String {
    let amount = Amount::from_sat(sats).display_in(Denomination::Bitcoin);
    format!(
        "bitcoin:{address}?amount={amount}&label={}",
        utf8_percent_encode(label, NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use bitcoin::bip32::Xpriv;
    use bitcoin::secp256k1::Secp256k1;

    use super::*;

    // BIP84 "Test vectors" (mnemonic "abandon abandon ... about"), account 0 of m/84'/0'/0'.
    const ACCOUNT_ZPRV: &str = "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE";
    const ACCOUNT_ZPUB: &str = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
    const ACCOUNT_XPUB: &str = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V";
    const RECEIVE_0: &str = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu";
    const RECEIVE_1: &str = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g";
    const CHANGE_0: &str = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el";

    #[test]
    fn bip84_test_vectors() {
        // The account zprv's public half is the vector's zpub.
        let mut data = bitcoin::base58::decode_check(ACCOUNT_ZPRV).unwrap();
        data[..4].copy_from_slice(&[0x04, 0x88, 0xad, 0xe4]); // zprv -> xprv version
        let xpriv = Xpriv::decode(&data).unwrap();
        let xpub = Xpub::from_priv(&Secp256k1::new(), &xpriv);
        let mut encoded = xpub.encode();
        assert_eq!(xpub.to_string(), ACCOUNT_XPUB);
        encoded[..4].copy_from_slice(&ZPUB);
        assert_eq!(bitcoin::base58::encode_check(&encoded), ACCOUNT_ZPUB);

        for key in [ACCOUNT_ZPUB, ACCOUNT_XPUB] {
            let account = Account::parse(key, Network::Bitcoin).unwrap();
            assert_eq!(account.receive_address(0).unwrap().to_string(), RECEIVE_0);
            assert_eq!(account.receive_address(1).unwrap().to_string(), RECEIVE_1);
            assert_eq!(account.address(1, 0).unwrap().to_string(), CHANGE_0);
        }
    }

    #[test]
    fn wrong_keys_are_refused() {
        assert!(Account::parse(ACCOUNT_ZPUB, Network::Testnet).is_err());
        assert!(Account::parse(ACCOUNT_ZPRV, Network::Bitcoin).is_err());
        assert!(Account::parse("zpub-not-base58", Network::Bitcoin).is_err());
        assert!(
            Account::parse(ACCOUNT_ZPUB, Network::Bitcoin)
                .unwrap()
                .receive_address(1 << 31)
                .is_err()
        );
    }

    #[test]
    fn bip21_uris() {
        assert_eq!(
            bip21(RECEIVE_0, 230_770, "Invoice 12"),
            format!("bitcoin:{RECEIVE_0}?amount=0.0023077&label=Invoice%2012")
        );
    }
}
